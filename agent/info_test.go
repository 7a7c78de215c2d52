package agent

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseInfoRealReplies(t *testing.T) {
	// Captured from redis-server 7.0.15 with nine clients, one blocked in
	// BLPOP (see client_list_7.0.txt), one after the other: the second
	// capture's own connection is the 14th received.
	// The full INFO has the replication section: role.
	roles := map[string]string{"info_7.0_clients_stats.txt": "", "info_7.0_all.txt": "master"}
	for file, received := range map[string]int64{"info_7.0_clients_stats.txt": 13, "info_7.0_all.txt": 14} {
		t.Run(file, func(t *testing.T) {
			info, err := parseInfo(readTestdata(t, file))
			if err != nil {
				t.Fatal(err)
			}
			want := redisInfo{connected: 9, blocked: 1, maxClients: 10000, received: received, rejected: 0,
				have: fieldConnected | fieldBlocked | fieldMaxClients | fieldReceived | fieldRejected, role: roles[file]}
			if file == "info_7.0_all.txt" { // the full INFO has the cpu section
				want.cpu = [numCPUStates]float64{0.019084, 0, 0.018827, 0.028626, 0, 0.028240}
				want.cpuHave = 1<<numCPUStates - 1
			}
			if info != want {
				t.Fatalf("parseInfo = %+v, want %+v", info, want)
			}
		})
	}
}

func TestParseInfoMalformed(t *testing.T) {
	full := readTestdata(t, "info_7.0_clients_stats.txt")
	tests := []struct {
		name    string
		reply   string
		want    redisInfo
		wantErr string // "" for none
	}{
		{name: "empty", reply: "", wantErr: "no connected_clients"},
		{name: "headers only", reply: "# Clients\r\n# Stats\r\n", wantErr: "no connected_clients"},
		{name: "LF only", reply: "connected_clients:3\nblocked_clients:1\n",
			want: redisInfo{connected: 3, blocked: 1, have: fieldConnected | fieldBlocked}},
		{name: "no trailing newline", reply: "connected_clients:3",
			want: redisInfo{connected: 3, have: fieldConnected}},
		{name: "truncated in a value", reply: full[:strings.Index(full, "maxclients:")+len("maxclients:10")],
			want: redisInfo{connected: 9, maxClients: 10, have: fieldConnected | fieldMaxClients}},
		{name: "truncated in a key", reply: "connected_clients:2\r\nblocked_cl",
			want: redisInfo{connected: 2, have: fieldConnected}},
		{name: "pre-7.0 without maxclients", reply: "# Clients\r\nconnected_clients:4\r\nblocked_clients:0\r\n",
			want: redisInfo{connected: 4, have: fieldConnected | fieldBlocked}},
		{name: "negative", reply: "connected_clients:-1\r\n", wantErr: `connected_clients="-1"`},
		{name: "not a number", reply: "connected_clients:3\r\nblocked_clients:lots\r\n",
			want: redisInfo{connected: 3, have: fieldConnected}, wantErr: `blocked_clients="lots"`},
		{name: "overflow", reply: "connected_clients:99999999999999999999\r\n", wantErr: "connected_clients="},
		{name: "empty value", reply: "connected_clients:\r\n", wantErr: `connected_clients=""`},
		{name: "no colon", reply: "connected_clients 3\r\nconnected_clients:5\r\n",
			want: redisInfo{connected: 5, have: fieldConnected}},
		{name: "value with colon", reply: "connected_clients:5:6\r\n", wantErr: `connected_clients="5:6"`},
		{name: "later good value wins", reply: "connected_clients:x\r\nconnected_clients:7\r\n",
			want: redisInfo{connected: 7, have: fieldConnected}, wantErr: `connected_clients="x"`},
		{name: "spaces around", reply: "  connected_clients:8  \r\n",
			want: redisInfo{connected: 8, have: fieldConnected}},
		{name: "error text", reply: "-ERR unknown command\r\n", wantErr: "no connected_clients"},
		{name: "huge value is clipped", reply: "connected_clients:" + strings.Repeat("9x", 1000), wantErr: `..."`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseInfoWant(t, tc.reply, tc.wantErr)
			if got != tc.want {
				t.Fatalf("parseInfo = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// parseInfoWant parses reply and fails unless its error contains wantErr
// ("": no error) and stays short.
func parseInfoWant(t *testing.T, reply, wantErr string) redisInfo {
	t.Helper()
	got, err := parseInfo(reply)
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("error = %v, want one containing %q", err, wantErr)
	}
	if err != nil && len(err.Error()) > 200 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
	return got
}

// FuzzParseInfo checks that no reply makes parseInfo panic, and that what it
// returns is consistent: fields it claims to have are >= 0, and a reply
// without connected_clients is an error.
func FuzzParseInfo(f *testing.F) {
	for _, file := range []string{"info_7.0_clients_stats.txt", "info_7.0_all.txt"} {
		s := readTestdata(f, file)
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add("connected_clients:-1\r\n")
	f.Add("connected_clients:1\nmaxclients:\n")
	f.Fuzz(func(t *testing.T, reply string) {
		info, err := parseInfo(reply)
		for _, v := range []int64{info.connected, info.blocked, info.maxClients, info.received, info.rejected} {
			if v < 0 {
				t.Fatalf("negative field in %+v", info)
			}
		}
		for c, v := range info.cpu {
			if info.hasCPU(c) && !(v >= 0 && v <= math.MaxFloat64) {
				t.Fatalf("CPU time %s = %v in %+v", cpuStates[c].state, v, info)
			}
		}
		if !info.has(fieldConnected) && err == nil {
			t.Fatal("no connected_clients and no error")
		}
	})
}
