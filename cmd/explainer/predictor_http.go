package main

import (
	"fmt"

	"github.com/explainer-sidecar/explainer/server"
)

// httpClientFunc builds the model clients of the HTTP protocols
// (kserve-v1-http, kserve-v2-http) for --predictor, with -predictor-*'s TLS
// unless -predictor-plaintext.
//
// Not built yet: the REST clients of package predictor come with their own
// change, which replaces this stub.
func (c *serveConfig) httpClientFunc() (server.ClientFunc, error) {
	return nil, fmt.Errorf("%s: not built yet", c.protocol)
}
