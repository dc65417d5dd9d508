package flink

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/trialflow/trialflow/internal/jvm"
)

// serverFactorySource replaces Beam's org.apache.beam.sdk.fn.server.ServerFactory
// on the job server's classpath. Beam 2.62.0's builds every gRPC server with
// NettyServerBuilder.forPort, so the Job API and artifact ports (whatever
// --job-host says) and each job's Fn API servers listen on all interfaces;
// no flag or system property changes that (docs/runners.md). The
// replacement has the same public API and binds the host of the server's
// URL, or loopback where it picks the port itself.
//
//go:embed javasrc/ServerFactory.java
var serverFactorySource []byte

// loopbackOverlay compiles serverFactorySource against cp (once per source
// and classpath; kept in the jvm cache dir) and returns the directory of its
// classes, to be put ahead of cp.
func loopbackOverlay(ctx context.Context, cp string) (string, error) {
	if _, err := exec.LookPath("javac"); err != nil {
		return "", fmt.Errorf("%w: javac is not on PATH (install a JDK 17+, not only a JRE)", jvm.ErrMissingTool)
	}
	base, err := jvm.CacheDir()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(serverFactorySource)
	h.Write([]byte(cp))
	dir := filepath.Join(base, "flink-loopback-"+hex.EncodeToString(h.Sum(nil))[:16])
	marker := filepath.Join(dir, "classes", "org", "apache", "beam", "sdk", "fn", "server", "ServerFactory.class")
	if _, err := os.Stat(marker); err == nil {
		return filepath.Join(dir, "classes"), nil
	}
	tmp, err := os.MkdirTemp(base, "flink-loopback-tmp-")
	if err != nil {
		return "", fmt.Errorf("flink: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "ServerFactory.java")
	if err := os.WriteFile(src, serverFactorySource, 0o644); err != nil {
		return "", fmt.Errorf("flink: %w", err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "javac", "--release", "11", "-nowarn", "-cp", cp, "-d", filepath.Join(tmp, "classes"), src)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("flink: compile the loopback ServerFactory: %w\n%s", err, out.String())
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("flink: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "classes"), filepath.Join(dir, "classes")); err != nil {
		return "", fmt.Errorf("flink: %w", err)
	}
	return filepath.Join(dir, "classes"), nil
}
