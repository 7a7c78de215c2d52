package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

func TestParseClientListRealReply(t *testing.T) {
	// Captured from redis-server 7.0.15: a unix-socket client in MULTI,
	// unnamed clients, one named poolscope-agent, a blocked one, a
	// subscriber, and the connection that ran CLIENT LIST (id=17).
	entries, err := parseClientList(readTestdata(t, "client_list_7.0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 9 {
		t.Fatalf("%d entries, want 9", len(entries))
	}
	if e := entries[0]; e.id != 11 || e.name != "legacy-worker" || e.age != 2 || e.idle != 2 || e.cmd != "set" {
		t.Errorf("first entry = %+v", e)
	}
	if e := entries[3]; e.id != 3 || e.name != "" || e.age != 10 {
		t.Errorf("fourth entry = %+v", e)
	}

	got := groupClients(entries, 17, 50)
	want := []clientGroup{
		{name: "", count: 2, ageMax: 10, idleMax: 10}, // id=17 (ours) left out
		{name: "checkout:master:4242", count: 2, ageMax: 2, idleMax: 2},
		{name: "checkout:health:4242", count: 1, ageMax: 2, idleMax: 2},
		{name: "checkout:replica:4242", count: 1, ageMax: 2, idleMax: 2},
		{name: "legacy-worker", count: 1, ageMax: 2, idleMax: 2},
		{name: "poolscope-agent", count: 1, ageMax: 2, idleMax: 2}, // another agent: counted
	}
	if !slices.Equal(got, want) {
		t.Fatalf("groups:\n got %+v\nwant %+v", got, want)
	}
}

func TestGroupClientsOwnConnectionWithoutID(t *testing.T) {
	// Without CLIENT ID (an ACL user without +client|id) the agent's
	// connection is the one named poolscope-agent running CLIENT LIST.
	entries := []clientEntry{
		{id: 1, name: ClientName, cmd: "client|list"},
		{id: 2, name: ClientName, cmd: "info"}, // another agent, last ran INFO
		{id: 3, name: ClientName, cmd: "client"},
	}
	got := groupClients(entries, 0, 50)
	if len(got) != 1 || got[0].count != 1 {
		t.Fatalf("groups = %+v, want one poolscope-agent connection (id 2)", got)
	}
}

func TestParseClientListMalformed(t *testing.T) {
	real := readTestdata(t, "client_list_7.0.txt")
	firstLine := real[:strings.IndexByte(real, '\n')]
	tests := []struct {
		name     string
		reply    string
		wantIDs  []int64
		wantBad  int // malformed lines reported
		wantName string
	}{
		{name: "empty", reply: ""},
		{name: "blank lines", reply: "\n\r\n  \n"},
		{name: "one line no newline", reply: "id=5 name=a age=1 idle=0", wantIDs: []int64{5}, wantName: "a"},
		{name: "CRLF", reply: "id=5 name=a age=1 idle=0\r\nid=6 name=b age=1 idle=0\r\n", wantIDs: []int64{5, 6}},
		{name: "truncated mid-line", reply: real[:len(firstLine)+40], wantIDs: []int64{11}, wantBad: 1, wantName: "legacy-worker"},
		{name: "truncated after age", reply: "id=7 addr=x name=n age=4", wantBad: 1},
		{name: "no id", reply: "addr=1.2.3.4:5 name=a age=1 idle=1\nid=2 age=0 idle=0\n", wantIDs: []int64{2}, wantBad: 1},
		{name: "bad numbers", reply: "id=x age=1 idle=1\nid=3 age=-1 idle=0\nid=4 age=1 idle=1e3\n", wantBad: 3},
		{name: "overflow", reply: "id=99999999999999999999 age=1 idle=1\n", wantBad: 1},
		{name: "fields without =", reply: "garbage id=8 more garbage age=1 idle=2\n", wantIDs: []int64{8}},
		{name: "empty name", reply: "id=9 name= age=1 idle=2\n", wantIDs: []int64{9}, wantName: ""},
		{name: "name with =", reply: "id=9 name=a=b age=1 idle=2\n", wantIDs: []int64{9}, wantName: "a=b"},
		{name: "double spaces", reply: "id=9  name=x  age=1 idle=2\n", wantIDs: []int64{9}, wantName: "x"},
		{name: "error reply", reply: "-NOPERM this user has no permissions\r\n", wantBad: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := parseClientList(tc.reply)
			var ids []int64
			for _, e := range entries {
				ids = append(ids, e.id)
			}
			if !slices.Equal(ids, tc.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tc.wantIDs)
			}
			switch {
			case tc.wantBad == 0 && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantBad > 0 && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d malformed", tc.wantBad))):
				t.Errorf("error = %v, want %d malformed lines", err, tc.wantBad)
			}
			if len(entries) == 1 && entries[0].name != tc.wantName {
				t.Errorf("name = %q, want %q", entries[0].name, tc.wantName)
			}
		})
	}
}

func TestGroupAttributes(t *testing.T) {
	server := []attribute.KeyValue{attrServerAddress.String("10.0.0.1"), attrServerPort.Int(6379)}
	tests := []struct {
		name               string
		service, role, pid string
	}{
		{"checkout:master:4242", "checkout", "master", "4242"},
		{"checkout:health:4242", "checkout", "health", "4242"},
		{"legacy-worker", "", "", ""},
		{"a:b:c", "", "", ""},
		{"", "", "", ""},
		{otherName, "", "", ""},
	}
	for _, tc := range tests {
		set := groupAttributes(tc.name, server)
		get := func(k attribute.Key) string { v, _ := set.Value(k); return v.AsString() }
		if get(attrClientName) != tc.name || get(attrClientService) != tc.service || get(attrClientRole) != tc.role || get(attrClientPID) != tc.pid {
			t.Errorf("%q: attributes %v", tc.name, set.ToSlice())
		}
		if set.Len() != 6 {
			t.Errorf("%q: %d attributes, want 6", tc.name, set.Len())
		}
	}
}

// FuzzParseClientList checks that no reply makes the parser or the
// grouping panic, and that the grouping's invariants hold: no more than
// topN+1 groups, counts that add up to the parsed entries, no negative ages.
func FuzzParseClientList(f *testing.F) {
	real := readTestdata(f, "client_list_7.0.txt")
	f.Add(real, int64(17), 3)
	f.Add(real[:len(real)/2], int64(0), 50)
	f.Add("id=1 name=other age=1 idle=1\nid=2 name=x age=2 idle=0\n", int64(0), 1)
	f.Fuzz(func(t *testing.T, reply string, ownID int64, topN int) {
		entries, _ := parseClientList(reply)
		for _, e := range entries {
			if e.id < 0 || e.age < 0 || e.idle < 0 {
				t.Fatalf("negative field in %+v", e)
			}
		}
		topN = max(1, topN%100)
		groups := groupClients(entries, ownID, topN)
		if len(groups) > topN+1 {
			t.Fatalf("%d groups for topN %d", len(groups), topN)
		}
		var total int64
		seen := map[string]bool{}
		for _, g := range groups {
			if seen[g.name] {
				t.Fatalf("name %q twice", g.name)
			}
			seen[g.name] = true
			if g.count < 1 || g.ageMax < 0 || g.idleMax < 0 {
				t.Fatalf("bad group %+v", g)
			}
			total += g.count
		}
		excluded := 0
		for _, e := range entries {
			if (ownID > 0 && e.id == ownID) || (ownID <= 0 && e.name == ClientName && isClientListCmd(e.cmd)) {
				excluded++
			}
		}
		if total != int64(len(entries)-excluded) {
			t.Fatalf("groups count %d connections, parsed %d, %d of them the agent's", total, len(entries), excluded)
		}
	})
}
