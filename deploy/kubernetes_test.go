package deploy

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// agentContainer is the name of the agent's container in both manifests.
const agentContainer = "poolscope-agent"

// TestSidecar asserts what docs/deploy.md promises of the sidecar: the
// pod's processes and nothing of the host's, no capability at all, the
// agent and the application as the same unprivileged user.
func TestSidecar(t *testing.T) {
	d := only[*appsv1.Deployment](t, manifest(t, "sidecar.yaml"))
	pod := d.Spec.Template.Spec
	if pod.ShareProcessNamespace == nil || !*pod.ShareProcessNamespace {
		t.Error("shareProcessNamespace is not true: the agent would see only its own process")
	}
	if pod.HostPID || pod.HostNetwork || pod.HostIPC {
		t.Errorf("hostPID %v, hostNetwork %v, hostIPC %v: the sidecar needs none", pod.HostPID, pod.HostNetwork, pod.HostIPC)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Fatalf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser shared by every container", psc)
	}
	for _, c := range pod.Containers {
		if c.SecurityContext != nil && (c.SecurityContext.RunAsUser != nil || c.SecurityContext.RunAsGroup != nil) {
			t.Errorf("container %s sets its own user: the agent reads other processes' fds as their user, so every container must keep the pod's", c.Name)
		}
	}
	agent := container(t, pod, agentContainer)
	assertLocked(t, agent)
	if caps := agent.SecurityContext.Capabilities; len(caps.Add) > 0 {
		t.Errorf("capabilities added %v: the sidecar needs none", caps.Add)
	}
	assertAgentArgs(t, agent.Args)
}

// TestDaemonSet asserts what docs/deploy.md promises of the DaemonSet: the
// node's processes (hostPID) through the runtime's default /proc, no host
// path, not privileged, exactly CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH.
func TestDaemonSet(t *testing.T) {
	ds := only[*appsv1.DaemonSet](t, manifest(t, "daemonset.yaml"))
	pod := ds.Spec.Template.Spec
	if !pod.HostPID {
		t.Error("hostPID is not true: the agent would see only its own process")
	}
	if pod.HostNetwork || pod.HostIPC {
		t.Errorf("hostNetwork %v, hostIPC %v: the DaemonSet needs neither", pod.HostNetwork, pod.HostIPC)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: the agent does not call the Kubernetes API")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s mounts the host path %s: /proc comes from hostPID, nothing of the host is mounted", v.Name, v.HostPath.Path)
		}
	}
	agent := container(t, pod, agentContainer)
	assertLocked(t, agent)
	sc := agent.SecurityContext
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		t.Errorf("procMount %q: want the runtime's default masked /proc", *sc.ProcMount)
	}
	want := []corev1.Capability{"DAC_READ_SEARCH", "SYS_PTRACE"}
	got := slices.Clone(sc.Capabilities.Add)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("capabilities added %v, want exactly %v", got, want)
	}
	if len(agent.VolumeMounts) > 0 {
		t.Errorf("volume mounts %v: the agent needs none", agent.VolumeMounts)
	}
	if samplesServers(agent) {
		t.Errorf("args %q, env %v: the DaemonSet's agents must not sample the servers (--server-metrics=false): every node would report the same servers' series", agent.Args, agent.Env)
	}
	assertAgentArgs(t, agent.Args)
}

// TestServerAgent asserts what docs/deploy.md promises of the agent that
// samples the servers for a DaemonSet: one copy, never two at once, the
// server metrics on, no process selected, and so nothing of the node's:
// no host namespace, a non-root user, no capability.
func TestServerAgent(t *testing.T) {
	d := only[*appsv1.Deployment](t, manifest(t, "server-agent.yaml"))
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v: want 1, or every server is reported once per copy", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q: want Recreate, so that an update never runs two copies", d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	if pod.HostPID || pod.HostNetwork || pod.HostIPC || pod.ShareProcessNamespace != nil && *pod.ShareProcessNamespace {
		t.Errorf("hostPID %v, hostNetwork %v, hostIPC %v, shareProcessNamespace %v: it watches no process", pod.HostPID, pod.HostNetwork, pod.HostIPC, pod.ShareProcessNamespace)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: the agent does not call the Kubernetes API")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	agent := container(t, pod, agentContainer)
	assertLocked(t, agent)
	if caps := agent.SecurityContext.Capabilities; len(caps.Add) > 0 {
		t.Errorf("capabilities added %v: it reads no process", caps.Add)
	}
	if !samplesServers(agent) {
		t.Errorf("args %q, env %v: the server agent must sample the servers", agent.Args, agent.Env)
	}
	for _, a := range agent.Args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && slices.Contains([]string{"discover", "match", "pid", "pidfile", "self"}, name) {
			t.Errorf("args %q select processes (%s): this agent is for the servers only", agent.Args, a)
		}
	}
	assertAgentArgs(t, agent.Args)
}

// serverMetricsEnv is the agent's variable for --server-metrics.
const serverMetricsEnv = "POOLSCOPE_AGENT_SERVER_METRICS"

// samplesServers reports whether the agent container samples its servers,
// as the agent decides it: the last --server-metrics on the command line,
// else POOLSCOPE_AGENT_SERVER_METRICS, else on.
func samplesServers(c corev1.Container) bool {
	for i := len(c.Args) - 1; i >= 0; i-- {
		name, value, hasValue := strings.Cut(strings.TrimLeft(c.Args[i], "-"), "=")
		if strings.HasPrefix(c.Args[i], "-") && name == "server-metrics" {
			return !hasValue || on(value)
		}
	}
	for _, e := range c.Env {
		if e.Name == serverMetricsEnv {
			return on(e.Value)
		}
	}
	return true
}

// on is Go's flag package's reading of a boolean value (the flag's), which
// also covers the variable's 1/0/true/false.
func on(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// assertLocked checks the settings both agent containers share: not
// privileged, no privilege escalation, a read-only root file system, every
// capability dropped first, the runtime's seccomp profile where set.
func assertLocked(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("container %s has no securityContext", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container %s is privileged", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container %s: capabilities do not drop ALL", c.Name)
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container %s: seccomp profile %q", c.Name, sc.SeccompProfile.Type)
	}
	if c.Image == "" || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("container %s: image %q, memory limit %v", c.Name, c.Image, c.Resources.Limits.Memory())
	}
}

// TestCollectorRBACReadsOnly: the gateway's k8sattributes processor may
// read pods, namespaces, nodes and replica sets, and change nothing.
func TestCollectorRBACReadsOnly(t *testing.T) {
	objects := manifest(t, "collector-rbac.yaml")
	role := only[*rbacv1.ClusterRole](t, objects)
	binding := only[*rbacv1.ClusterRoleBinding](t, objects)
	sa := only[*corev1.ServiceAccount](t, objects)
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && v != "watch" {
				t.Errorf("rule %v allows %q: the processor only reads", r.Resources, v)
			}
		}
	}
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 ||
		binding.Subjects[0].Name != sa.Name || binding.Subjects[0].Namespace != sa.Namespace {
		t.Errorf("binding %+v does not bind role %s to service account %s/%s", binding, role.Name, sa.Namespace, sa.Name)
	}
}
