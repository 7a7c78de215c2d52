package tlsfiles

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadErrorsNameTheVariableAndThePath(t *testing.T) {
	d := t.TempDir()
	garbage := filepath.Join(d, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("SECRET-KEY-MATERIAL\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(d, "missing.pem")
	for name, tc := range map[string]struct {
		f    Files
		want []string
	}{
		"CA missing":        {Files{CA: File{"X_CA", missing}}, []string{`X_CA="` + missing + `": cannot read the CA certificate: no such file or directory`}},
		"CA a directory":    {Files{CA: File{"X_CA", d}}, []string{`X_CA="` + d + `": cannot read the CA certificate: is a directory`}},
		"CA not PEM":        {Files{CA: File{"X_CA", garbage}}, []string{`X_CA="` + garbage + `": no PEM certificate in the file`}},
		"cert without key":  {Files{Cert: File{"X_CERT", garbage}, Key: File{Var: "X_KEY"}}, []string{`X_CERT="` + garbage + `": set without X_KEY`}},
		"key without cert":  {Files{Cert: File{Var: "X_CERT"}, Key: File{"X_KEY", garbage}}, []string{`X_KEY="` + garbage + `": set without X_CERT`}},
		"pair missing":      {Files{Cert: File{"X_CERT", missing}, Key: File{"X_KEY", missing}}, []string{`X_CERT="` + missing + `": cannot load the client certificate with X_KEY="` + missing + `": no such file or directory`}},
		"pair garbage":      {Files{Cert: File{"X_CERT", garbage}, Key: File{"X_KEY", garbage}}, []string{`X_CERT="` + garbage + `": cannot load the client certificate`}},
		"every problem too": {Files{CA: File{"X_CA", missing}, Cert: File{"X_CERT", garbage}, Key: File{Var: "X_KEY"}}, []string{"X_CA=", "X_CERT="}},
	} {
		t.Run(name, func(t *testing.T) {
			errs := Load(&tls.Config{}, tc.f)
			var all []string
			for _, err := range errs {
				all = append(all, err.Error())
			}
			msg := strings.Join(all, "\n")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("errors lack %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "SECRET-KEY-MATERIAL") {
				t.Errorf("an error quotes the file's contents:\n%s", msg)
			}
		})
	}
	if errs := Load(&tls.Config{}, Files{}); len(errs) != 0 {
		t.Errorf("no files: %v", errs)
	}
}
