package secondary

import clog "github.com/coredns/coredns/plugin/pkg/log"

// log writes as the authzone plugin: a secondary zone is configured in an
// authzone block, and its operators read its lines under that name.
var log = clog.NewWithPlugin("authzone")
