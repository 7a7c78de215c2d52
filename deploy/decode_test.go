package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// newObject returns an empty object of the kind a manifest names; only the
// kinds poolscope ships are known.
func newObject(tm metav1.TypeMeta) (any, error) {
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a kind poolscope's manifests use", tm.APIVersion, tm.Kind)
}

// documentSeparator splits a multi-document YAML file.
var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrict decodes every document of a YAML file into the Kubernetes
// API type its apiVersion and kind name, failing on any field the type
// does not have (sigs.k8s.io/yaml's UnmarshalStrict: a misspelt or
// misplaced security setting would otherwise vanish silently).
func decodeStrict(data []byte) ([]any, error) {
	var objects []any
	for i, doc := range documentSeparator.Split(string(data), -1) {
		if len(bytes.TrimSpace([]byte(stripComments(doc)))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		obj, err := newObject(tm)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, tm.Kind, err)
		}
		objects = append(objects, obj)
	}
	return objects, nil
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

func stripComments(doc string) string { return commentLine.ReplaceAllString(doc, "") }

// manifest decodes kubernetes/NAME strictly.
func manifest(t *testing.T, name string) []any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := decodeStrict(data)
	if err != nil {
		t.Fatalf("kubernetes/%s: %v", name, err)
	}
	return objects
}

// only returns the single object of type T in objects.
func only[T any](t *testing.T, objects []any) T {
	t.Helper()
	var found []T
	for _, o := range objects {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T, want 1", len(found), zero)
	}
	return found[0]
}

// container returns the pod's container of that name.
func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// TestManifestsDecodeStrictly decodes every file in kubernetes/ and shows
// that the decoding is strict: the same file with one unknown field fails.
func TestManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/ (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeStrict(data); err != nil {
				t.Fatal(err)
			}
			// "metadata:" is in every document; an unknown field beside its
			// name must be refused.
			bad := bytes.Replace(data, []byte("metadata:\n"), []byte("metadata:\n  nmae: typo\n"), 1)
			if _, err := decodeStrict(bad); err == nil {
				t.Fatal("a manifest with the unknown field metadata.nmae decoded without error")
			}
		})
	}
}
