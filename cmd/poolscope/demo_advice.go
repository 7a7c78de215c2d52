package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/poolscope/poolscope/advise"
)

// The demo's live advice: the advise package's model on the demo's own
// scrapes, one interval per scrape (a second), over the last
// demoAdviceWindow. Each pool of each worker is a service of one process.

// demoAdviceWindow bounds the intervals kept: the advice follows the
// workload instead of averaging over an hour-long demo.
const demoAdviceWindow = 5 * time.Minute

// demoAdvisor turns successive snapshots into advise observations.
type demoAdvisor struct {
	pools   map[poolKey]*demoPoolTrack
	servers map[string]int // address -> maxclients
}

// demoPoolTrack is one pool's history.
type demoPoolTrack struct {
	server       string
	samples      []advise.Sample // the last window's scrapes, oldest first
	peak         float64
	openSum      float64
	openN        int
	max, minIdle float64
}

// demoPoolSample is one scrape of one pool.
type demoPoolSample struct {
	advise.Sample
	used, idle, pending, max, minIdle float64
}

func newDemoAdvisor() *demoAdvisor {
	return &demoAdvisor{pools: map[poolKey]*demoPoolTrack{}, servers: map[string]int{}}
}

// observe adds one snapshot.
func (d *demoAdvisor) observe(snap *snapshot) {
	samples, servers := demoPoolSamples(snap)
	for addr, mc := range servers {
		d.servers[addr] = mc
	}
	for k, s := range samples {
		t := d.pools[k]
		if t == nil {
			t = &demoPoolTrack{server: s.server}
			d.pools[k] = t
		}
		t.add(s.demoPoolSample, int(demoAdviceWindow/time.Second))
	}
}

// add keeps s and at most keep intervals (keep+1 samples) before it.
func (t *demoPoolTrack) add(s demoPoolSample, keep int) {
	t.max, t.minIdle = s.max, s.minIdle
	t.peak = math.Max(t.peak, s.used+s.pending)
	t.openSum += s.used + s.idle
	t.openN++
	t.samples = append(t.samples, s.Sample)
	if len(t.samples) > keep+1 {
		t.samples = t.samples[1:]
	}
}

// demoPoolSampleAt is a sample with the server its pool points at.
type demoPoolSampleAt struct {
	demoPoolSample
	server string
}

// demoPoolSamples reads every pool's figures, and every server's
// maxclients, from a snapshot.
func demoPoolSamples(snap *snapshot) (map[poolKey]*demoPoolSampleAt, map[string]int) {
	out := map[poolKey]*demoPoolSampleAt{}
	get := func(m *dto.Metric) *demoPoolSampleAt {
		k := poolKey{labelValue(m, "job"), labelValue(m, "instance"), labelValue(m, "db_client_connection_pool_name")}
		s := out[k]
		if s == nil {
			s = &demoPoolSampleAt{demoPoolSample: demoPoolSample{Sample: advise.Sample{At: snap.at, ServerCPU: math.NaN()}}, server: serverOf(m)}
			out[k] = s
		}
		return s
	}
	each := func(name string, f func(m *dto.Metric)) {
		if fam := snap.families[name]; fam != nil {
			for _, m := range fam.Metric {
				f(m)
			}
		}
	}
	each("db_client_connection_use_time_seconds", func(m *dto.Metric) {
		s := get(m)
		s.UseSum += m.GetHistogram().GetSampleSum()
		s.UseCount += float64(m.GetHistogram().GetSampleCount())
		s.Use = s.Use.Plus(toHistogram(m.GetHistogram()))
	})
	each("db_client_connection_wait_time_seconds", func(m *dto.Metric) {
		s := get(m)
		s.WaitSum += m.GetHistogram().GetSampleSum()
		s.Wait = toHistogram(m.GetHistogram())
	})
	each("redis_client_connection_demand", func(m *dto.Metric) { get(m).Demand = toHistogram(m.GetHistogram()) })
	each("db_client_connection_count", func(m *dto.Metric) {
		switch {
		case labelValue(m, "db_client_connection_state") == "idle":
			get(m).idle += value(m)
		case labelValue(m, "redis_client_connection_kind") != "pubsub":
			get(m).used += value(m)
		}
	})
	each("db_client_connection_pending_requests", func(m *dto.Metric) { get(m).pending += value(m) })
	each("db_client_connection_max", func(m *dto.Metric) { get(m).max += value(m) })
	each("db_client_connection_idle_min", func(m *dto.Metric) { get(m).minIdle += value(m) })
	servers := map[string]int{}
	each("redis_clients_max", func(m *dto.Metric) { servers[serverOf(m)] = int(value(m)) })
	return out, servers
}

func serverOf(m *dto.Metric) string {
	addr, port := labelValue(m, "server_address"), labelValue(m, "server_port")
	if port == "" {
		return addr
	}
	return addr + ":" + port
}

// pool is one track as an advise observation.
func (t *demoPoolTrack) pool(k poolKey) advise.Pool {
	p := advise.Pool{
		Service: k.job, Name: k.pool, Server: t.server, Processes: 1,
		Max: toInt(t.max), Min: toInt(t.minIdle), Extra: 0, Step: time.Second,
		PeakDemand: t.peak, OpenMean: math.NaN(), Timeouts: math.NaN(), MemoryPerConnection: memoryPerConnection,
	}
	if t.openN > 0 {
		p.OpenMean = t.openSum / float64(t.openN)
	}
	return p.WithSamples(t.samples)
}

// render prints the advice section: one line per pool, the verdict and
// why, and the server's fleet budget.
func (d *demoAdvisor) render() string {
	var obs []advise.Pool
	for k, t := range d.pools {
		obs = append(obs, t.pool(k))
	}
	var servers []advise.Server
	for addr, mc := range d.servers {
		servers = append(servers, advise.Server{Address: addr, MaxClients: mc})
	}
	r, err := advise.Advise(obs, servers)
	if err != nil {
		return fmt.Sprintf("\nadvice: %v\n", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nadvice (poolscope advise's model on the last %s, wait p99 target %s):\n", d.window(), advise.DefaultWaitTarget)
	sort.SliceStable(r.Pools, func(i, j int) bool {
		if r.Pools[i].Service != r.Pools[j].Service {
			return r.Pools[i].Service < r.Pools[j].Service
		}
		return roleOrder(r.Pools[i].Pool) < roleOrder(r.Pools[j].Pool)
	})
	for _, a := range r.Pools {
		fmt.Fprintf(&b, "  %s %s: %s\n", a.Service, a.Pool, demoAdviceLine(a))
	}
	for _, s := range r.Servers {
		fmt.Fprintf(&b, "  server %s: both workers may open %d connections, %d at the advised sizes (maxclients %d)\n",
			s.Server, s.Before, s.After, s.MaxClients)
	}
	return b.String()
}

func (d *demoAdvisor) window() time.Duration {
	n := 0
	for _, t := range d.pools {
		n = max(n, len(t.samples)-1)
	}
	return time.Duration(n) * time.Second
}

// demoAdviceLine says what to do with one pool and why. The unpooled
// worker's roles are many go-redis clients with their defaults: the advice
// is the pool to enable instead.
func demoAdviceLine(a advise.PoolAdvice) string {
	if a.Verdict == advise.NotEnoughData {
		return fmt.Sprintf("not enough data yet: %s", a.Reason)
	}
	change := fmt.Sprintf("%s %d -> %d", a.Verdict, a.Current, a.Recommended)
	if a.Verdict == advise.Keep || a.Verdict == advise.ServerBound {
		change = fmt.Sprintf("%s %d", a.Verdict, a.Current)
	}
	if strings.HasSuffix(a.Service, "-unpooled") {
		change = fmt.Sprintf("enable the pool at %d instead of %d default client connections", a.Recommended, a.Current)
	}
	return fmt.Sprintf("%s (wait p99 %s now, %s then; %s connections, %s): %s", change,
		fmtLatency(a.WaitP99), fmtLatency(a.ExpectedWaitP99), fmtDelta(a.DeltaConnectionsPerProcess),
		fmtBytesDelta(a.DeltaMemoryPerProcess), a.Reason)
}
