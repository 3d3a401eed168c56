package sockit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyArrows holds the architecture's one rule: imports point down
// the layers. addr and relay import nothing of sockit's; nothing below the
// front end imports it; libraries never import the command line; only
// metrics/prom imports Prometheus.
func TestDependencyArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "sockit/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, "github.com/prometheus/") && f[0] != "sockit/metrics/prom" {
				t.Errorf("%s imports %s: only sockit/metrics/prom may import Prometheus", f[0], imp)
			}
			if imp == "sockit" || strings.HasPrefix(imp, "sockit/") {
				imports[f[0]] = append(imports[f[0]], imp)
			}
		}
	}
	leaf := []string{"sockit/addr", "sockit/relay", "sockit/internal/escape"}
	for _, pkg := range leaf {
		if len(imports[pkg]) > 0 {
			t.Errorf("%s must import nothing of sockit's; imports %v", pkg, imports[pkg])
		}
	}
	for pkg, imps := range imports {
		frontEnd := pkg == "sockit/cmd/sockit" || strings.HasPrefix(pkg, "sockit/internal/cli") ||
			strings.HasPrefix(pkg, "sockit/internal/ncat") || strings.HasPrefix(pkg, "sockit/bench")
		for _, imp := range imps {
			if !frontEnd && (strings.HasPrefix(imp, "sockit/internal/cli") || strings.HasPrefix(imp, "sockit/internal/ncat")) {
				t.Errorf("%s imports the front end %s", pkg, imp)
			}
			if strings.HasPrefix(pkg, "sockit/server") && strings.HasPrefix(imp, "sockit/service") {
				t.Errorf("%s (server) imports %s (service): services sit above servers", pkg, imp)
			}
			if (strings.HasPrefix(pkg, "sockit/endpoint") || strings.HasPrefix(pkg, "sockit/server")) &&
				strings.HasPrefix(imp, "sockit/middleware") {
				t.Errorf("%s imports %s: middleware sits above servers and endpoints", pkg, imp)
			}
		}
	}
}
