package tlsa

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Layouts of certificate folders that ACME clients write.
const (
	LayoutAuto       = "auto"
	LayoutFile       = "file"       // a PEM file; key and next key beside it
	LayoutCertbot    = "certbot"    // certbot: live/NAME/{fullchain,privkey}.pem (symlinks into archive/NAME)
	LayoutDehydrated = "dehydrated" // dehydrated: certs/NAME/{fullchain,privkey,privkey.roll}.pem
	LayoutAcmeSh     = "acme.sh"    // acme.sh: NAME[_ecc]/{fullchain.cer,NAME.key,NAME.key.next}
	LayoutFolder     = "folder"     // any folder with fullchain.pem and privkey.pem
)

var layouts = []string{LayoutAuto, LayoutFile, LayoutCertbot, LayoutDehydrated, LayoutAcmeSh, LayoutFolder}

// inputs is where one certificate's files are, as found now.
type inputs struct {
	layout string
	cert   string
	key    string   // "": no key file to check
	next   []string // next-key (or next-certificate) files to publish when present
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

var dehydratedFile = regexp.MustCompile(`^(cert|fullchain|privkey)-[0-9]+\.pem$`)

// detectFolder names the layout of a certificate folder.
func detectFolder(dir string) string {
	base := filepath.Base(dir)
	name := strings.TrimSuffix(base, "_ecc")
	parent := filepath.Base(filepath.Dir(dir))
	switch {
	case exists(filepath.Join(dir, "fullchain.cer")) || exists(filepath.Join(dir, name+".cer")) || exists(filepath.Join(dir, name+".key")):
		return LayoutAcmeSh
	case parent == "live" && (exists(filepath.Join(dir, "fullchain.pem")) || exists(filepath.Join(dir, "cert.pem"))):
		return LayoutCertbot
	case exists(filepath.Join(dir, "privkey.roll.pem")) || parent == "certs" && hasDehydratedFiles(dir):
		return LayoutDehydrated
	}
	return LayoutFolder
}

func hasDehydratedFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if dehydratedFile.MatchString(e.Name()) {
			return true
		}
	}
	return false
}

// folderInputs are the files of a folder in a layout.
func folderInputs(dir, layout string) inputs {
	j := func(n string) string { return filepath.Join(dir, n) }
	switch layout {
	case LayoutAcmeSh:
		name := strings.TrimSuffix(filepath.Base(dir), "_ecc")
		cert := j("fullchain.cer")
		if !exists(cert) && exists(j(name+".cer")) {
			cert = j(name + ".cer")
		}
		return inputs{layout: layout, cert: cert, key: j(name + ".key"), next: []string{j(name + ".key.next")}}
	case LayoutCertbot:
		// danebot (a certbot wrapper for DANE) stages the next key in
		// staging/NAME/nextkey.pem, then ready.pem, beside live/.
		top := filepath.Dir(filepath.Dir(dir))
		staging := filepath.Join(top, "staging", filepath.Base(dir))
		return inputs{layout: layout, cert: j("fullchain.pem"), key: j("privkey.pem"),
			next: []string{j("privkey.next.pem"), filepath.Join(staging, "nextkey.pem"), filepath.Join(staging, "ready.pem")}}
	case LayoutDehydrated:
		return inputs{layout: layout, cert: j("fullchain.pem"), key: j("privkey.pem"), next: []string{j("privkey.roll.pem"), j("privkey.next.pem")}}
	default:
		return inputs{layout: LayoutFolder, cert: j("fullchain.pem"), key: j("privkey.pem"), next: []string{j("privkey.next.pem")}}
	}
}

// resolveInputs finds the files of a certificate now: path is a folder (its
// layout detected unless forced) or a file (the key and next key are looked
// for beside it, as its folder's layout names them). Explicit key and next
// paths replace the detected ones; "none" turns them off.
func resolveInputs(path, layout, key string, next []string, nextSet bool) inputs {
	var in inputs
	if layout == "" {
		layout = LayoutAuto
	}
	switch {
	case layout == LayoutFile:
		in = inputs{layout: LayoutFile, cert: path, key: filepath.Join(filepath.Dir(path), "privkey.pem"), next: []string{filepath.Join(filepath.Dir(path), "privkey.next.pem")}}
	case isDir(path):
		if layout == LayoutAuto {
			layout = detectFolder(path)
		}
		in = folderInputs(path, layout)
	default:
		dir := filepath.Dir(path)
		l := layout
		if l == LayoutAuto {
			l = detectFolder(dir)
		}
		in = folderInputs(dir, l)
		in.layout = l
		in.cert = path
	}
	switch key {
	case "":
	case "none":
		in.key = ""
	default:
		in.key = key
	}
	if nextSet {
		in.next = nil
		for _, n := range next {
			if n != "none" {
				in.next = append(in.next, n)
			}
		}
	}
	return in
}

// checkLayout validates a layout name.
func checkLayout(l string) error {
	for _, x := range layouts {
		if l == x {
			return nil
		}
	}
	return fmt.Errorf("layout %q: want one of %s", l, strings.Join(layouts, ", "))
}
