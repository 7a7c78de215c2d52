// Package deploy holds poolscope's deployment files and the test that
// checks them (see docs/deploy.md):
//
//   - Containerfile: the image, a static binary on an empty base image,
//     non-root by default (`make image`);
//   - kubernetes/: the agent as a sidecar, as a DaemonSet (server metrics
//     off) with a one-replica agent for the servers, and the read
//     access the gateway collector's k8sattributes processor needs;
//   - systemd/: the agent as a hardened service on a host;
//   - collector/: the gateway collector configuration for Kubernetes and the
//     builder manifest of a collector that has the k8sattributes processor
//     (`make check-deploy`).
//
// The test decodes every Kubernetes manifest strictly into the k8s.io/api
// types (an unknown field is an error), asserts each security setting the
// documentation promises, runs the agent's flag parser on every agent
// command line here, and checks the systemd unit with systemd-analyze
// verify. It is a module of its own so that the product's go.mod never
// requires the Kubernetes API types.
package deploy
