package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// KServe starts an explainer container with its own arguments (see
// kserve/kserve, pkg/apis/serving/v1beta1/explainer_custom.go): the
// container's args followed by
//
//	--model_name NAME --predictor_host PREDICTOR.NAMESPACE --http_port 8080 [--workers N]
//
// (--workers when the explainer's containerConcurrency is set). With no
// args in the manifest, those are the only arguments: the image's
// ENTRYPOINT gets them without "serve", so run treats them as serve's.
// KServe's Python servers also take --predictor_protocol (v1, v2, grpc-v2)
// and --predictor_use_ssl; so does serve. Each may come from the
// environment too (see applyKServe).
type kserveConfig struct {
	modelName         string
	predictorHost     string
	httpPort          int
	workers           int
	predictorProtocol string
	predictorUseSSL   bool
}

// kserveFlags are KServe's names, spelt with underscores as KServe passes
// them.
var kserveFlags = []string{"model_name", "predictor_host", "http_port", "workers", "predictor_protocol", "predictor_use_ssl"}

func (k *kserveConfig) flags(fs *flag.FlagSet) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
		fmt.Fprintln(fs.Output(), "Every flag can also be set from the environment: --NAME as EXPLAINER_NAME, upper case, dashes as underscores")
		fmt.Fprintln(fs.Output(), "(EXPLAINER_TRAINING_DATA for --training-data); the command line wins.")
		fs.PrintDefaults()
	}
	fs.StringVar(&k.modelName, "model_name", "", "KServe: the InferenceService's model name: serves /v1/models/NAME:explain and readiness, and is --model unless that is given (env MODEL_NAME)")
	fs.StringVar(&k.predictorHost, "predictor_host", "", "KServe: the predictor, HOST[:PORT] (port 80 by default over HTTP); sets --predictor, reached in plaintext unless --predictor_use_ssl, with --predictor_protocol unless --protocol is given (env PREDICTOR_HOST)")
	fs.IntVar(&k.httpPort, "http_port", 0, "KServe: serve the HTTP API, :explain and the probes on 0.0.0.0 at this port, as --http-listen does (env HTTP_PORT)")
	fs.IntVar(&k.workers, "workers", 0, "KServe (containerConcurrency): jobs running at once, unless --max-concurrent-jobs is given; the sidecar is one process (env WORKERS)")
	fs.StringVar(&k.predictorProtocol, "predictor_protocol", "v1", "KServe: the predictor's protocol with --predictor_host: v1 (kserve-v1-http), v2 (kserve-v2-http) or grpc-v2 (kserve-v2) (env PREDICTOR_PROTOCOL)")
	fs.BoolVar(&k.predictorUseSSL, "predictor_use_ssl", false, "KServe: reach --predictor_host over TLS (env PREDICTOR_USE_SSL)")
}

// envName is the environment variable of serve's flag name.
func envName(name string) string {
	return "EXPLAINER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func isKServeFlag(name string) bool {
	for _, k := range kserveFlags {
		if name == k {
			return true
		}
	}
	return false
}

// isKServeArgs tells whether args start with one of KServe's flags: the
// container was started by KServe with no command of its own.
func isKServeArgs(args []string) bool {
	if len(args) == 0 {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
	return strings.HasPrefix(args[0], "-") && isKServeFlag(name)
}

// applyKServe reads the environment, then KServe's flags into the serve
// flags they stand for, after fs has parsed the command line.
//
// The environment sets any flag the command line does not give: serve's
// flag NAME as EXPLAINER_NAME in upper case with dashes as underscores
// (EXPLAINER_TRAINING_DATA for --training-data), and KServe's also by
// their own names in upper case (MODEL_NAME, PREDICTOR_HOST, HTTP_PORT,
// WORKERS, ...; the EXPLAINER_ name wins when both are set).
//
// KServe's flags then fill the serve flags they stand for, unless those
// are given: --predictor wins over --predictor_host, --http-listen over
// --http_port, --max-concurrent-jobs over --workers, and so on.
func (c *serveConfig) applyKServe(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || envErr != nil {
			return
		}
		names := []string{envName(f.Name)}
		if isKServeFlag(f.Name) {
			names = append(names, strings.ToUpper(f.Name))
		}
		for _, env := range names {
			if v, ok := os.LookupEnv(env); ok {
				if err := fs.Set(f.Name, v); err != nil {
					envErr = fmt.Errorf("%s=%q: %w", env, v, err)
				}
				given[f.Name] = true
				return
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	k := &c.kserve
	if k.modelName != "" && !given["model"] {
		c.model = k.modelName
	}
	if k.predictorHost != "" {
		protocol, ok := map[string]string{"v1": "kserve-v1-http", "v2": "kserve-v2-http", "grpc-v2": "kserve-v2"}[k.predictorProtocol]
		if !ok {
			return fmt.Errorf("--predictor_protocol %q: want v1, v2 or grpc-v2", k.predictorProtocol)
		}
		if !given["protocol"] {
			c.protocol = protocol
		}
		if !given["startup-timeout"] {
			// KServe's probes gate traffic: serve at once, so that
			// they are answered while the predictor loads.
			c.startupTimeout = 0
		}
		if !given["predictor"] {
			c.target = k.predictorHost
			if _, _, err := net.SplitHostPort(k.predictorHost); err != nil && strings.HasSuffix(c.protocol, "-http") {
				c.target = net.JoinHostPort(k.predictorHost, "80")
			}
		}
		if !given["predictor-plaintext"] {
			c.plaintext = !k.predictorUseSSL
		}
	}
	if k.httpPort < 0 || k.httpPort > 65535 {
		return fmt.Errorf("--http_port %d: not a port", k.httpPort)
	}
	if k.httpPort != 0 && !given["http-listen"] {
		c.http.listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(k.httpPort))
	}
	if k.workers > 0 && !given["max-concurrent-jobs"] {
		c.maxConcurrentJobs = k.workers
	}
	return nil
}
