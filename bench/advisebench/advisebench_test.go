package advisebench

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuick keeps `make advise-bench` working: every shape runs against a
// real redis-server, gets advice and a rerun, and the report ends with the
// summary line. The figures of a quick run on a loaded machine are not
// judged here: the benchmark's targets are for `make advise-bench`.
func TestQuick(t *testing.T) {
	results, err := Measure(context.Background(), Shapes(), Quick())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(Shapes()) {
		t.Fatalf("%d results for %d shapes", len(results), len(Shapes()))
	}
	for _, r := range results {
		if r.Oracle < 1 || r.Oracle > r.Shape.Callers || len(r.Advice) == 0 {
			t.Errorf("%s: oracle %d, %d advice(s)", r.Shape.Name, r.Oracle, len(r.Advice))
		}
		for _, a := range r.Advice {
			if a.Size < 1 || a.Rerun.Calls == 0 || len(a.From.Pool.Intervals) < 10 {
				t.Errorf("%s at %d: advised %d, rerun %d calls, %d intervals", r.Shape.Name, a.From.Size, a.Size, a.Rerun.Calls, len(a.From.Pool.Intervals))
			}
		}
	}
	var b strings.Builder
	Report(&b, results, Quick())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^advise: shapes=5 within=\d+ under=\d+ max_over=\d+%$`).MatchString(last) {
		t.Errorf("last line %q, want the summary; report:\n%s", last, b.String())
	}
	t.Log(b.String())
}
