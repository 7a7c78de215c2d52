// Command gen writes poolscope's Grafana dashboards as JSON files.
//
//	go generate ./collector-config/grafana/   # runs: go run ./gen
//	go run ./collector-config/grafana/gen -out DIR
//
// Without -out it writes to ./dashboards, which is
// collector-config/grafana/dashboards when run by go generate.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/poolscope/poolscope/collector-config/grafana"
)

func main() {
	out := flag.String("out", "dashboards", "directory to write the dashboard JSON files into")
	flag.Parse()
	if err := grafana.WriteDashboards(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
