package secret_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/poolscope/poolscope/secret"
)

const canary = "hunter2-canary"

// holder is how a configuration carries a secret: an exported field.
type holder struct {
	Name     string
	Password secret.String
	Ptr      *secret.String
}

// TestNothingPrintsTheValue goes through every fmt verb and every encoder a
// log line or an error could use, on the bare value, a pointer, a struct
// field, a slice and a map.
func TestNothingPrintsTheValue(t *testing.T) {
	s := secret.String(canary)
	h := holder{Name: "sentinel", Password: s, Ptr: &s}
	operands := map[string]any{
		"value": s, "pointer": &s, "struct": h, "struct pointer": &h,
		"slice": []secret.String{s}, "map": map[string]secret.String{"pw": s},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10s", "%-10v", "%.3s", "%U", "%c"}
	for name, op := range operands {
		for _, verb := range verbs {
			t.Run(name+" "+verb, func(t *testing.T) {
				out := fmt.Sprintf(verb, op)
				if strings.Contains(out, canary) || strings.Contains(out, fmt.Sprintf("%x", canary)) {
					t.Fatalf("fmt %s shows the secret: %s", verb, out)
				}
			})
		}
	}
	encoders := map[string]func(any) (string, error){
		"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"xml": func(v any) (string, error) {
			b, err := xml.Marshal(struct{ V any }{v})
			return string(b), err
		},
		"slog text": func(v any) (string, error) {
			var b bytes.Buffer
			slog.New(slog.NewTextHandler(&b, nil)).Info("m", "v", v)
			return b.String(), nil
		},
		"slog json": func(v any) (string, error) {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "v", v)
			return b.String(), nil
		},
		"slog attr": func(v any) (string, error) {
			var b bytes.Buffer
			slog.New(slog.NewTextHandler(&b, nil)).Info("m", slog.Any("v", v))
			return b.String(), nil
		},
		"error": func(v any) (string, error) { return fmt.Errorf("pools: %v", v).Error(), nil },
	}
	for name, op := range operands {
		for enc, f := range encoders {
			t.Run(name+" "+enc, func(t *testing.T) {
				out, err := f(op)
				if err != nil && enc != "xml" { // xml refuses maps; the others must encode
					t.Fatal(err)
				}
				if strings.Contains(out, canary) {
					t.Fatalf("%s shows the secret: %s", enc, out)
				}
			})
		}
	}
}

func TestRedactedForms(t *testing.T) {
	s := secret.String(canary)
	for verb, want := range map[string]string{"%v": "***", "%s": "***", "%q": `"***"`, "%#v": `secret.String("***")`, "%+v": "***"} {
		if got := fmt.Sprintf(verb, s); got != want {
			t.Errorf("%s = %s, want %s", verb, got, want)
		}
	}
	if b, _ := json.Marshal(s); string(b) != `"***"` {
		t.Errorf("json = %s", b)
	}
	if got := fmt.Sprint(secret.String("")); got != "" {
		t.Errorf("empty = %q, want empty", got)
	}
	if s.Value() != canary {
		t.Errorf("Value = %q", s.Value())
	}
}

// TestUnexportedFieldGap pins the one gap documented on String, so that a
// change in fmt is noticed.
func TestUnexportedFieldGap(t *testing.T) {
	v := struct{ pw secret.String }{secret.String(canary)}
	if !strings.Contains(fmt.Sprintf("%v", v), canary) {
		t.Log("fmt now calls methods on unexported fields: update the doc comment of String")
	}
}
