package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// inferenceService is the part of KServe's serving.kserve.io/v1beta1
// InferenceService (kserve/kserve, pkg/apis/serving/v1beta1) that the
// example uses, with KServe's JSON names: strict decoding against it fails
// on a misspelt or misplaced field of that part, and on fields it does not
// model (add them here when an example needs them).
type inferenceService struct {
	APIVersion        string `json:"apiVersion"`
	Kind              string `json:"kind"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Predictor struct {
			componentExtension `json:",inline"`
			Model              *struct {
				ModelFormat struct {
					Name    string  `json:"name"`
					Version *string `json:"version,omitempty"`
				} `json:"modelFormat"`
				Runtime          *string `json:"runtime,omitempty"`
				StorageURI       *string `json:"storageUri,omitempty"`
				ProtocolVersion  *string `json:"protocolVersion,omitempty"`
				RuntimeVersion   *string `json:"runtimeVersion,omitempty"`
				corev1.Container `json:",inline"`
			} `json:"model,omitempty"`
		} `json:"predictor"`
		Explainer *struct {
			componentExtension `json:",inline"`
			corev1.PodSpec     `json:",inline"`
		} `json:"explainer,omitempty"`
	} `json:"spec"`
}

// componentExtension is KServe's ComponentExtensionSpec, the fields the
// examples may use.
type componentExtension struct {
	MinReplicas          *int32            `json:"minReplicas,omitempty"`
	MaxReplicas          int32             `json:"maxReplicas,omitempty"`
	ScaleTarget          *int32            `json:"scaleTarget,omitempty"`
	ScaleMetric          *string           `json:"scaleMetric,omitempty"`
	ContainerConcurrency *int64            `json:"containerConcurrency,omitempty"`
	TimeoutSeconds       *int64            `json:"timeout,omitempty"`
	Labels               map[string]string `json:"labels,omitempty"`
	Annotations          map[string]string `json:"annotations,omitempty"`
}

// kserveHTTPPort is the port KServe passes as --http_port
// (constants.InferenceServiceDefaultHttpPort).
const kserveHTTPPort = 8080

// checkKServe checks the InferenceServices in dir: each explainer runs the
// explainer image with KServe's arguments alone, which serve accepts; its
// EXPLAINER_ variables name serve flags; the files they name are mounted
// from ConfigMaps of the same file; probes and ports are KServe's HTTP
// port; the security context is the sidecar's. Then it starts the binary
// as KServe would (KServe's arguments, the manifest's environment, the
// ConfigMaps' files) and asks for its liveness and readiness over HTTP.
func checkKServe(dir, bin string, flags commandFlags, p *problems) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(paths) == 0 {
		p.add("%s: no manifests", dir)
		return
	}
	explainers := 0
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			p.add("%v", err)
			continue
		}
		file := "examples/kserve/" + filepath.Base(path)
		configMaps := map[string]*corev1.ConfigMap{}
		var isvcs []*inferenceService
		for _, doc := range docSep.Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				p.add("%s: %v", file, err)
				continue
			}
			switch head.APIVersion + "/" + head.Kind {
			case "v1/Namespace":
				var v corev1.Namespace
				if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
					p.add("%s: Namespace: %v", file, err)
				}
			case "v1/ConfigMap":
				var v corev1.ConfigMap
				if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
					p.add("%s: ConfigMap: %v", file, err)
					continue
				}
				configMaps[v.Namespace+"/"+v.Name] = &v
			case "serving.kserve.io/v1beta1/InferenceService":
				var v inferenceService
				if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
					p.add("%s: InferenceService: %v", file, err)
					continue
				}
				isvcs = append(isvcs, &v)
			default:
				p.add("%s: apiVersion %q kind %q: not one this check knows", file, head.APIVersion, head.Kind)
			}
		}
		for _, isvc := range isvcs {
			if checkInferenceService(isvc, configMaps, file, bin, flags, p) {
				explainers++
			}
		}
	}
	if explainers == 0 {
		p.add("examples/kserve: no InferenceService with the explainer in its explainer slot")
	}
}

// kserveArgs are the arguments KServe appends to the explainer container's
// (CustomExplainer.GetContainer).
func kserveArgs(isvc *inferenceService) []string {
	args := []string{"--model_name", isvc.Name, "--predictor_host", isvc.Name + "-predictor." + isvc.Namespace, "--http_port", strconv.Itoa(kserveHTTPPort)}
	if c := isvc.Spec.Explainer.ContainerConcurrency; c != nil {
		args = append(args, "--workers", strconv.FormatInt(*c, 10))
	}
	return args
}

// fileFlags are serve's flags that name files.
var fileFlags = map[string]bool{"training-data": true, "explain-config": true, "tls-cert": true, "tls-key": true, "tls-client-ca": true,
	"auth-tokens": true, "predictor-ca": true, "predictor-cert": true, "predictor-key": true}

func checkInferenceService(isvc *inferenceService, configMaps map[string]*corev1.ConfigMap, file, bin string, flags commandFlags, p *problems) bool {
	where := fmt.Sprintf("%s: InferenceService %s", file, isvc.Name)
	if isvc.Namespace == "" {
		p.add("%s: no namespace", where)
	}
	if m := isvc.Spec.Predictor.Model; m == nil || m.ModelFormat.Name == "" || m.StorageURI == nil {
		p.add("%s: predictor.model needs a modelFormat name and a storageUri", where)
	}
	ex := isvc.Spec.Explainer
	if ex == nil || len(ex.Containers) != 1 || !strings.Contains(ex.Containers[0].Image, "explainer") {
		return false
	}
	c := ex.Containers[0]
	where += " explainer"
	if len(c.Command) != 0 || len(c.Args) != 0 {
		p.add("%s: command %q args %q: KServe's arguments are all the explainer takes (settings go in EXPLAINER_ variables)", where, c.Command, c.Args)
	}
	checkArgs("serve", kserveArgs(isvc), flags, where+" (KServe's arguments)", p)
	// Volumes from ConfigMaps, and where they are mounted.
	files := map[string]string{} // mounted path → content
	for _, m := range c.VolumeMounts {
		found := false
		for _, v := range ex.Volumes {
			if v.Name != m.Name {
				continue
			}
			found = true
			if v.ConfigMap == nil {
				continue
			}
			cm := configMaps[isvc.Namespace+"/"+v.ConfigMap.Name]
			if cm == nil {
				p.add("%s: volume %s: no ConfigMap %s in %s", where, v.Name, v.ConfigMap.Name, file)
				continue
			}
			for k, data := range cm.Data {
				files[strings.TrimSuffix(m.MountPath, "/")+"/"+k] = data
			}
		}
		if !found {
			p.add("%s: volumeMount %s: no such volume", where, m.Name)
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		name, ok := strings.CutPrefix(e.Name, "EXPLAINER_")
		if !ok {
			continue
		}
		flag := strings.ToLower(name)
		if !flags["serve"][flag] {
			flag = strings.ReplaceAll(flag, "_", "-")
		}
		if !flags["serve"][flag] {
			p.add("%s: env %s: explainer serve has no flag --%s", where, e.Name, flag)
			continue
		}
		if fileFlags[flag] {
			if _, ok := files[e.Value]; !ok {
				p.add("%s: env %s=%s: no such file in the mounted ConfigMaps", where, e.Name, e.Value)
			}
		}
		env[e.Name] = e.Value
	}
	// Ports and probes: KServe's HTTP port.
	hasPort := false
	for _, cp := range c.Ports {
		if cp.ContainerPort == kserveHTTPPort {
			hasPort = true
		}
	}
	if !hasPort {
		p.add("%s: no containerPort %d (KServe's --http_port)", where, kserveHTTPPort)
	}
	for name, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		switch {
		case pr == nil:
			p.add("%s: needs a %s", where, name)
		case pr.HTTPGet == nil:
			p.add("%s: %s: want httpGet (GET / or /v1/models/%s)", where, name, isvc.Name)
		case resolvePort(pr.HTTPGet.Port.String(), c) != kserveHTTPPort:
			p.add("%s: %s on port %s, the explainer serves HTTP on %d", where, name, pr.HTTPGet.Port.String(), kserveHTTPPort)
		case pr.HTTPGet.Path != "/" && pr.HTTPGet.Path != "/v1/models/"+isvc.Name:
			p.add("%s: %s path %q: want / (liveness) or /v1/models/%s (readiness)", where, name, pr.HTTPGet.Path, isvc.Name)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add("%s: needs runAsNonRoot, a non-zero runAsUser, readOnlyRootFilesystem and allowPrivilegeEscalation: false", where)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		p.add("%s: needs cpu and memory requests", where)
	}
	runAsKServe(isvc, env, files, bin, where, p)
	return true
}

var httpServing = regexp.MustCompile(`msg="HTTP API serving" address=(\S+)`)

// runAsKServe starts bin with KServe's arguments and the manifest's
// EXPLAINER_ variables, its files written out of the ConfigMaps, and
// checks that it serves: liveness 200, readiness answered (503: there is no
// predictor here). The gRPC and HTTP listeners move to loopback ports, and
// the predictor protocol to one whose client connects lazily, since the
// predictor does not exist here.
func runAsKServe(isvc *inferenceService, env, files map[string]string, bin, where string, p *problems) {
	dir, err := os.MkdirTemp("", "kserve-check")
	if err != nil {
		p.add("%s: %v", where, err)
		return
	}
	defer os.RemoveAll(dir)
	local := func(path string) string { return filepath.Join(dir, filepath.FromSlash(path)) }
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(local(path)), 0o700); err == nil {
			err = os.WriteFile(local(path), []byte(data), 0o600)
		}
		if err != nil {
			p.add("%s: %v", where, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, kserveArgs(isvc)...)
	cmd.Env = []string{"EXPLAINER_LISTEN=127.0.0.1:0", "EXPLAINER_HTTP_LISTEN=127.0.0.1:0", "EXPLAINER_PROTOCOL=predict-v1"}
	for k, v := range env {
		if _, ok := files[v]; ok {
			v = local(v)
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		p.add("%s: %v", where, err)
		return
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var addr string
	for addr == "" {
		if m := httpServing.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-exited:
			p.add("%s: started as KServe starts it, the explainer exited (%v):\n%s", where, err, logs.String())
			return
		case <-ctx.Done():
			p.add("%s: started as KServe starts it, the explainer did not serve HTTP:\n%s", where, logs.String())
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	for path, want := range map[string]int{"/": http.StatusOK, "/v1/models/" + isvc.Name: http.StatusServiceUnavailable} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			p.add("%s: GET %s: %v", where, path, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			p.add("%s: GET %s: HTTP %d, want %d", where, path, resp.StatusCode, want)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		p.add("%s: on SIGTERM the explainer exited with %v:\n%s", where, err, logs.String())
	}
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(q []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(q)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
