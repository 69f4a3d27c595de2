package deploy

// The Kubernetes manifests under k8s/: they agree with the image, the config
// and each other.

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

type k8sMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type k8sHeader struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
}

type k8sSecurityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe   *k8sProbe          `yaml:"livenessProbe"`
	ReadinessProbe  *k8sProbe          `yaml:"readinessProbe"`
	SecurityContext k8sSecurityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type k8sSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type k8sDeployment struct {
	Spec struct {
		Replicas int         `yaml:"replicas"`
		Selector k8sSelector `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds int                `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               k8sSecurityContext `yaml:"securityContext"`
				Containers                    []k8sContainer     `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					EmptyDir map[string]any `yaml:"emptyDir"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sService struct {
	Spec struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		SessionAffinity       string `yaml:"sessionAffinity"`
		SessionAffinityConfig struct {
			ClientIP struct {
				TimeoutSeconds int `yaml:"timeoutSeconds"`
			} `yaml:"clientIP"`
		} `yaml:"sessionAffinityConfig"`
	} `yaml:"spec"`
}

type k8sPDB struct {
	Spec struct {
		MinAvailable   any         `yaml:"minAvailable"`
		MaxUnavailable any         `yaml:"maxUnavailable"`
		Selector       k8sSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type k8sHPA struct {
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
		Metrics     []struct {
			Type     string `yaml:"type"`
			Resource *struct {
				Name   string `yaml:"name"`
				Target struct {
					Type               string `yaml:"type"`
					AverageUtilization int    `yaml:"averageUtilization"`
				} `yaml:"target"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

type k8sData struct {
	Type       string            `yaml:"type"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

// k8sObjects reads every manifest under k8s/ (kustomization.yaml aside),
// keyed by kind; each kind appears once.
func k8sObjects(t *testing.T) map[string]*yaml.Node {
	t.Helper()
	dir := filepath.Join(deployDir, "k8s")
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	require.NoError(t, err)
	objs := map[string]*yaml.Node{}
	var listed []string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		listed = append(listed, filepath.Base(f))
		for _, doc := range readYAMLDocs(t, f) {
			var h k8sHeader
			require.NoError(t, doc.Decode(&h), f)
			require.NotEmpty(t, h.Kind, "%s: no kind", f)
			require.NotEmpty(t, h.APIVersion, "%s: no apiVersion", f)
			assert.Empty(t, h.Metadata.Namespace, "%s: %s names a namespace; the manifests are namespace-less", f, h.Kind)
			assert.Equal(t, "mcp-gateway", h.Metadata.Name, "%s: %s", f, h.Kind)
			require.NotContains(t, objs, h.Kind, "two %s objects", h.Kind)
			objs[h.Kind] = doc
		}
	}
	var kust struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Resources  []string `yaml:"resources"`
	}
	decodeYAMLFile(t, filepath.Join(dir, "kustomization.yaml"), &kust)
	assert.Equal(t, "Kustomization", kust.Kind)
	assert.ElementsMatch(t, listed, kust.Resources, "kustomization.yaml lists every manifest")
	return objs
}

func decodeK8s(t *testing.T, objs map[string]*yaml.Node, kind, apiVersion string, v any) {
	t.Helper()
	n, ok := objs[kind]
	require.True(t, ok, "no %s in k8s/", kind)
	var h k8sHeader
	require.NoError(t, n.Decode(&h))
	assert.Equal(t, apiVersion, h.APIVersion, kind)
	require.NoError(t, n.Decode(v), kind)
}

// selectsLabels reports whether every label of sel is in labels.
func selectsLabels(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestDeployKubernetes(t *testing.T) {
	objs := k8sObjects(t)
	spec := readImageSpec(t)
	cfg := parseDeployConfig(t)

	var dep k8sDeployment
	decodeK8s(t, objs, "Deployment", "apps/v1", &dep)
	pod := dep.Spec.Template
	assert.Equal(t, 2, dep.Spec.Replicas)
	assert.True(t, selectsLabels(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels), "the selector matches the pod labels")
	assert.Greater(t, pod.Spec.TerminationGracePeriodSeconds, int(cfg.Gateway.ShutdownGrace.D()/time.Second),
		"terminationGracePeriodSeconds must exceed the gateway's shutdown_grace")
	require.Len(t, pod.Spec.Containers, 1)
	ctr := pod.Spec.Containers[0]

	// Command line: the image's entrypoint with valid serve arguments.
	args := ctr.Args
	if len(args) == 0 {
		args = spec.cmd
	}
	s := requireServeLine(t, "Deployment args", args)
	checkFlagsByBinary(t, "Deployment args", args)
	assert.Equal(t, spec.serve, s, "the Deployment's args differ from the image's CMD")

	// Non-root, read-only, no privileges.
	sc, psc := ctr.SecurityContext, pod.Spec.SecurityContext
	assert.True(t, (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc.RunAsNonRoot != nil && *psc.RunAsNonRoot), "runAsNonRoot")
	uid := psc.RunAsUser
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if assert.NotNil(t, uid, "runAsUser") {
		assert.Equal(t, spec.uid, *uid, "runAsUser is the image's USER")
	}
	assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false")
	if assert.NotNil(t, sc.Capabilities) {
		assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)
	}
	for _, r := range []string{"cpu", "memory"} {
		assert.NotEmpty(t, ctr.Resources.Requests[r], "resources.requests.%s", r)
	}
	assert.NotEmpty(t, ctr.Resources.Limits["memory"], "resources.limits.memory")

	// Ports and probes agree with the image.
	require.Len(t, ctr.Ports, 1)
	assert.Equal(t, spec.port, ctr.Ports[0].ContainerPort, "containerPort is the image's EXPOSE")
	assert.Equal(t, hostPortNumber(t, s.addr), ctr.Ports[0].ContainerPort, "containerPort is the --http port")
	probePort := func(p any) int {
		switch v := p.(type) {
		case int:
			return v
		case string:
			for _, cp := range ctr.Ports {
				if cp.Name == v {
					return cp.ContainerPort
				}
			}
		}
		return 0
	}
	for name, pr := range map[string]struct {
		probe *k8sProbe
		path  string
	}{"liveness": {ctr.LivenessProbe, "/health"}, "readiness": {ctr.ReadinessProbe, "/readyz"}} {
		require.NotNil(t, pr.probe, "%s probe", name)
		require.NotNil(t, pr.probe.HTTPGet, "%s probe is an HTTP GET", name)
		assert.Equal(t, pr.path, pr.probe.HTTPGet.Path, "%s probe path", name)
		assert.Equal(t, spec.port, probePort(pr.probe.HTTPGet.Port), "%s probe port", name)
	}

	// Config from the ConfigMap at the --config path; it is config.json.
	var cm k8sData
	decodeK8s(t, objs, "ConfigMap", "v1", &cm)
	mounts := map[string]string{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	configVolume := mounts[path.Dir(s.configPath)]
	require.NotEmpty(t, configVolume, "nothing is mounted at %s", path.Dir(s.configPath))
	writable := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if v.Name == configVolume {
			require.NotNil(t, v.ConfigMap, "volume %s is a ConfigMap", v.Name)
			assert.Equal(t, "mcp-gateway", v.ConfigMap.Name)
		}
		if v.EmptyDir != nil {
			writable[v.Name] = true
		}
	}
	want, err := os.ReadFile(filepath.Join(deployDir, "config.json"))
	require.NoError(t, err)
	got, ok := cm.Data[path.Base(s.configPath)]
	require.True(t, ok, "the ConfigMap has no %s", path.Base(s.configPath))
	assert.Equal(t, strings.TrimSpace(string(want)), strings.TrimSpace(got), "the ConfigMap's config.json differs from examples/deploy/config.json")
	assert.True(t, writable[mounts["/tmp"]], "/tmp is a writable emptyDir (the root filesystem is read-only)")

	// The key digest from the Secret; the placeholder is the example key's.
	var secret k8sData
	decodeK8s(t, objs, "Secret", "v1", &secret)
	var ref string
	for _, e := range ctr.Env {
		if e.Name == keyDigestEnv {
			require.NotNil(t, e.ValueFrom, "%s comes from the Secret", keyDigestEnv)
			require.NotNil(t, e.ValueFrom.SecretKeyRef)
			assert.Equal(t, "mcp-gateway", e.ValueFrom.SecretKeyRef.Name)
			ref = e.ValueFrom.SecretKeyRef.Key
		}
	}
	require.NotEmpty(t, ref, "the container has no %s", keyDigestEnv)
	assert.Equal(t, exampleKeyDigest(), secret.StringData[ref], "the placeholder is the SHA-256 of the documented example key")
	readme, err := os.ReadFile(filepath.Join(deployDir, "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(readme), exampleAPIKey, "README.md documents the example key")
	assert.Contains(t, string(readme), exampleKeyDigest())

	// Service: the container port, with ClientIP affinity that outlives an idle session.
	var svc k8sService
	decodeK8s(t, objs, "Service", "v1", &svc)
	assert.True(t, selectsLabels(svc.Spec.Selector, pod.Metadata.Labels), "the Service selects the pods")
	require.Len(t, svc.Spec.Ports, 1)
	assert.Equal(t, spec.port, probePort(svc.Spec.Ports[0].TargetPort), "the Service targets the container port")
	assert.Equal(t, "ClientIP", svc.Spec.SessionAffinity, "MCP sessions live in one replica")
	assert.GreaterOrEqual(t, time.Duration(svc.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds)*time.Second,
		cfg.Gateway.SessionIdleTimeout.D(), "affinity must last at least session_idle_timeout")

	// PodDisruptionBudget and HorizontalPodAutoscaler.
	var pdb k8sPDB
	decodeK8s(t, objs, "PodDisruptionBudget", "policy/v1", &pdb)
	assert.True(t, selectsLabels(pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels), "the PDB selects the pods")
	minAvailable, ok := pdb.Spec.MinAvailable.(int)
	require.True(t, ok, "minAvailable is a number")
	var hpa k8sHPA
	decodeK8s(t, objs, "HorizontalPodAutoscaler", "autoscaling/v2", &hpa)
	ref2 := hpa.Spec.ScaleTargetRef
	assert.Equal(t, [3]string{"apps/v1", "Deployment", "mcp-gateway"}, [3]string{ref2.APIVersion, ref2.Kind, ref2.Name})
	assert.Equal(t, dep.Spec.Replicas, hpa.Spec.MinReplicas, "minReplicas is the Deployment's replicas")
	assert.Less(t, minAvailable, hpa.Spec.MinReplicas, "the PDB must allow an eviction")
	assert.Greater(t, hpa.Spec.MaxReplicas, hpa.Spec.MinReplicas)
	require.Len(t, hpa.Spec.Metrics, 1)
	m := hpa.Spec.Metrics[0]
	require.Equal(t, "Resource", m.Type)
	require.NotNil(t, m.Resource)
	assert.Equal(t, "cpu", m.Resource.Name)
	assert.Equal(t, "Utilization", m.Resource.Target.Type)
	assert.Positive(t, m.Resource.Target.AverageUtilization)
}
