package zonemodel

// DefaultViewOf returns the default view among view names in configuration
// order: the last one. A zone configured without views has one view
// (DefaultView); with `views A B ...` the last is the default, the view a
// query or a transfer gets when nothing chose another (horizon's view
// without selectors, which matches everything, must come last). This is the
// one definition: every plugin that needs "the default view" asks here, of
// all of a zone's views or of those a source publishes in.
func DefaultViewOf(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1]
}

// DefaultView returns the zone's default view (see DefaultViewOf).
func (z *Zone) DefaultView() *View { return z.views[DefaultViewOf(z.viewNames)] }
