package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest.
type object struct {
	file, kind, name, namespace string
	pod                         *corev1.PodSpec   // Pod, Deployment
	labels                      map[string]string // of the pods
	svc                         *corev1.Service
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decode decodes one YAML document strictly (unknown or duplicate fields
// fail) into the k8s.io/api type of its kind.
func decode(doc []byte, file string, p *problems) *object {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		p.add("%s: %v", file, err)
		return nil
	}
	o := &object{file: file, kind: head.Kind}
	var err error
	switch head.APIVersion + "/" + head.Kind {
	case "v1/Namespace":
		var v corev1.Namespace
		err = yaml.UnmarshalStrict(doc, &v)
		o.name = v.Name
	case "v1/PersistentVolumeClaim":
		var v corev1.PersistentVolumeClaim
		err = yaml.UnmarshalStrict(doc, &v)
		o.name, o.namespace = v.Name, v.Namespace
	case "v1/Pod":
		var v corev1.Pod
		err = yaml.UnmarshalStrict(doc, &v)
		o.name, o.namespace, o.pod, o.labels = v.Name, v.Namespace, &v.Spec, v.Labels
	case "v1/Service":
		var v corev1.Service
		err = yaml.UnmarshalStrict(doc, &v)
		o.name, o.namespace, o.svc = v.Name, v.Namespace, &v
	case "apps/v1/Deployment":
		var v appsv1.Deployment
		err = yaml.UnmarshalStrict(doc, &v)
		o.name, o.namespace, o.pod, o.labels = v.Name, v.Namespace, &v.Spec.Template.Spec, v.Spec.Template.Labels
		if err == nil && (v.Spec.Selector == nil || !selects(v.Spec.Selector.MatchLabels, v.Spec.Template.Labels)) {
			p.add("%s: Deployment %s: selector does not match the template's labels", file, v.Name)
		}
	default:
		p.add("%s: apiVersion %q kind %q: not one this check knows", file, head.APIVersion, head.Kind)
		return nil
	}
	if err != nil {
		p.add("%s: %s: %v", file, head.Kind, err)
		return nil
	}
	if o.kind != "Namespace" && o.namespace == "" {
		p.add("%s: %s %s: no namespace", file, o.kind, o.name)
	}
	return o
}

func selects(sel, labels map[string]string) bool {
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

// checkManifests decodes every *.yaml in dir and checks the invariants a
// deployment of the sidecar needs.
func checkManifests(dir string, flags commandFlags, models map[string]*modelConfig, p *problems) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(paths) == 0 {
		p.add("%s: no manifests", dir)
	}
	var objs []*object
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			p.add("%v", err)
			continue
		}
		file := "examples/kubernetes/" + filepath.Base(path)
		for _, doc := range docSep.Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if o := decode([]byte(doc), file, p); o != nil {
				objs = append(objs, o)
			}
		}
	}
	sidecars := 0
	for _, o := range objs {
		if o.pod != nil {
			sidecars += checkPod(o, objs, flags, models, p)
		}
		if o.svc != nil {
			checkService(o, objs, p)
		}
	}
	if sidecars == 0 {
		p.add("examples/kubernetes: no explainer container found")
	}
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// checkPod checks every container of a pod spec (probes on every container
// of a long-running pod: restartPolicy other than Never) and returns how
// many are explainer sidecars.
func checkPod(o *object, objs []*object, flags commandFlags, models map[string]*modelConfig, p *problems) int {
	vols := map[string]bool{}
	for _, v := range o.pod.Volumes {
		vols[v.Name] = true
		if c := v.PersistentVolumeClaim; c != nil && find(objs, "PersistentVolumeClaim", c.ClaimName, o.namespace) == nil {
			p.add("%s: %s %s: volume %s: no PersistentVolumeClaim %s in the manifests", o.file, o.kind, o.name, v.Name, c.ClaimName)
		}
	}
	n := 0
	for _, c := range o.pod.Containers {
		where := fmt.Sprintf("%s: %s %s container %s", o.file, o.kind, o.name, c.Name)
		if o.pod.RestartPolicy != corev1.RestartPolicyNever && (c.ReadinessProbe == nil || c.LivenessProbe == nil) {
			p.add("%s: needs a readinessProbe and a livenessProbe", where)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			p.add("%s: needs cpu and memory requests", where)
		}
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				p.add("%s: volumeMount %s: no such volume", where, m.Name)
			}
			mounts[m.MountPath] = m.Name
		}
		if strings.Contains(c.Image, "tritonserver") || strings.Contains(c.Image, "triton") {
			if _, ok := c.Resources.Limits["nvidia.com/gpu"]; !ok {
				p.add("%s: Triton without an nvidia.com/gpu limit", where)
			}
		}
		if len(c.Args) == 0 || c.Args[0] != "serve" || !strings.Contains(c.Image, "explainer") {
			continue
		}
		n++
		checkSidecar(o, c, where, mounts, objs, flags, models, p)
	}
	return n
}

func checkSidecar(o *object, c corev1.Container, where string, mounts map[string]string, objs []*object,
	flags commandFlags, models map[string]*modelConfig, p *problems) {
	if len(c.Command) != 0 {
		p.add("%s: command overrides the image's ENTRYPOINT; give args only", where)
	}
	v := checkArgs("serve", c.Args[1:], flags, where, p)
	// Security: non-root, read-only root, no escalation (container or pod level).
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := o.pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if !nonRoot || uid == nil || *uid == 0 {
		p.add("%s: needs runAsNonRoot: true and a non-zero runAsUser", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.add("%s: needs readOnlyRootFilesystem: true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add("%s: needs allowPrivilegeEscalation: false", where)
	}
	// Ports: --listen and --metrics-listen are container ports, on every interface.
	ports := map[int32]string{}
	for _, cp := range c.Ports {
		ports[cp.ContainerPort] = cp.Name
	}
	listenPort := portOf(v["listen"])
	for _, f := range []string{"listen", "metrics-listen", "health-listen"} {
		val, ok := v[f]
		if !ok {
			if f == "listen" {
				p.add("%s: no --listen: the default 127.0.0.1 is unreachable from outside the container", where)
			}
			continue
		}
		if !strings.HasPrefix(val, "0.0.0.0:") && !strings.HasPrefix(val, ":") {
			p.add("%s: --%s=%s: listen on 0.0.0.0 in a container", where, f, val)
		}
		if _, ok := ports[portOf(val)]; !ok {
			p.add("%s: --%s=%s: port not among the containerPorts", where, f, val)
		}
	}
	// Probes: a gRPC probe is plaintext only: on the listen port without
	// --tls-cert, else on the plaintext --health-listen port.
	healthPort, hasHealth := listenPort, false
	if hl, ok := v["health-listen"]; ok {
		healthPort, hasHealth = portOf(hl), true
	}
	for _, pr := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if pr == nil {
			continue
		}
		switch {
		case pr.GRPC != nil:
			_, tls := v["tls-cert"]
			switch {
			case pr.GRPC.Port == healthPort && hasHealth:
			case tls:
				p.add("%s: gRPC probe against a TLS listener (--tls-cert): the kubelet's gRPC probe speaks plaintext only; probe --health-listen's port", where)
			case pr.GRPC.Port != listenPort:
				p.add("%s: gRPC probe on port %d, the sidecar listens on %d", where, pr.GRPC.Port, listenPort)
			}
			if s := pr.GRPC.Service; s != nil && *s != "" && *s != "explainer.v1.ExplainerService" {
				p.add("%s: gRPC probe service %q: the sidecar reports \"\" and explainer.v1.ExplainerService", where, *s)
			}
		case pr.TCPSocket != nil:
			if port := resolvePort(pr.TCPSocket.Port.String(), c); port != listenPort {
				p.add("%s: tcpSocket probe on %s, the sidecar listens on %d", where, pr.TCPSocket.Port.String(), listenPort)
			}
		default:
			p.add("%s: probe neither grpc nor tcpSocket (distroless has no shell for exec, the sidecar no HTTP but /metrics)", where)
		}
	}
	// Files given by flags are on mounted volumes.
	for _, f := range []string{"tls-cert", "tls-key", "tls-client-ca", "auth-tokens", "predictor-ca", "predictor-cert", "predictor-key"} {
		if path, ok := v[f]; ok && !underMount(path, mounts) {
			p.add("%s: --%s=%s is not on a mounted volume", where, f, path)
		}
	}
	if m := v["model"]; m != "" && models != nil && models[m] == nil {
		p.add("%s: --model=%s is no model of examples/triton/models", where, m)
	}
	checkPredictor(o, v, where, objs, p)
}

// checkPredictor checks that --predictor reaches Triton: a container of
// the same pod on localhost, or a headless Service (dns:///) selecting pods
// that serve that port.
func checkPredictor(o *object, v map[string]string, where string, objs []*object, p *problems) {
	target := v["predictor"]
	_, plain := v["predictor-plaintext"]
	if host, ok := strings.CutPrefix(target, "dns:///"); ok {
		name, port, _ := strings.Cut(host, ":")
		labels := strings.Split(name, ".")
		ns := o.namespace
		if len(labels) > 1 {
			ns = labels[1]
		}
		if len(labels) > 2 && strings.Join(labels[2:], ".") != "svc.cluster.local" && labels[2] != "svc" {
			p.add("%s: --predictor=%s: not a Service name (name.namespace.svc.cluster.local)", where, target)
		}
		svc := find(objs, "Service", labels[0], ns)
		if svc == nil {
			p.add("%s: --predictor=%s: no Service %s in namespace %s", where, target, labels[0], ns)
			return
		}
		if svc.svc.Spec.ClusterIP != corev1.ClusterIPNone {
			p.add("%s: --predictor=%s: Service %s is not headless (clusterIP: None): round_robin would see one address", where, target, svc.name)
		}
		n, _ := strconv.Atoi(port)
		found := false
		for _, sp := range svc.svc.Spec.Ports {
			if sp.Port == int32(n) {
				found = true
				// A headless Service's DNS gives pod IPs: the targetPort must equal the port.
				for _, w := range objs {
					if w.pod != nil && svc.namespace == w.namespace && selects(svc.svc.Spec.Selector, w.labels) {
						for _, c := range w.pod.Containers {
							if resolvePort(sp.TargetPort.String(), c) == sp.Port {
								return
							}
						}
					}
				}
				p.add("%s: --predictor=%s: no pod selected by Service %s serves container port %d", where, target, svc.name, n)
			}
		}
		if !found {
			p.add("%s: --predictor=%s: Service %s has no port %s", where, target, svc.name, port)
		}
		return
	}
	host, port, _ := strings.Cut(target, ":")
	if host != "127.0.0.1" && host != "localhost" {
		p.add("%s: --predictor=%s: want 127.0.0.1:PORT (same pod) or dns:///SERVICE:PORT", where, target)
		return
	}
	if !plain {
		p.add("%s: --predictor=%s without --predictor-plaintext: Triton on localhost serves plaintext", where, target)
	}
	n, _ := strconv.Atoi(port)
	for _, c := range o.pod.Containers {
		for _, cp := range c.Ports {
			if cp.ContainerPort == int32(n) && !strings.Contains(c.Image, "explainer") {
				return
			}
		}
	}
	p.add("%s: --predictor=%s: no other container of the pod has port %s", where, target, port)
}

// checkService checks that a Service selects some workload's pods and
// that its targetPorts exist there.
func checkService(o *object, objs []*object, p *problems) {
	for _, sp := range o.svc.Spec.Ports {
		ok := false
		for _, w := range objs {
			if w.pod == nil || w.namespace != o.namespace || !selects(o.svc.Spec.Selector, w.labels) {
				continue
			}
			for _, c := range w.pod.Containers {
				if resolvePort(sp.TargetPort.String(), c) != 0 {
					ok = true
				}
			}
		}
		if !ok {
			p.add("%s: Service %s port %d: no selected pod has targetPort %s", o.file, o.name, sp.Port, sp.TargetPort.String())
		}
	}
}

// resolvePort gives the container port that a number or a port name means
// in c, or 0.
func resolvePort(port string, c corev1.Container) int32 {
	for _, cp := range c.Ports {
		if cp.Name == port || strconv.Itoa(int(cp.ContainerPort)) == port {
			return cp.ContainerPort
		}
	}
	return 0
}

func portOf(addr string) int32 {
	i := strings.LastIndex(addr, ":")
	n, _ := strconv.Atoi(addr[i+1:])
	return int32(n)
}

func underMount(path string, mounts map[string]string) bool {
	for m := range mounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m, "/")+"/") {
			return true
		}
	}
	return false
}

func find(objs []*object, kind, name, ns string) *object {
	for _, o := range objs {
		if o.kind == kind && o.name == name && o.namespace == ns {
			return o
		}
	}
	return nil
}
