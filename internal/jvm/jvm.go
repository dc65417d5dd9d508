package jvm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Artifact is one Maven coordinate.
type Artifact struct {
	Group, Name, Version string
}

func (a Artifact) String() string { return a.Group + ":" + a.Name + ":" + a.Version }

// ErrMissingTool is returned when java or mvn is not on PATH.
var ErrMissingTool = errors.New("jvm: tool not found")

// Tools reports whether java and mvn are on PATH, and which is missing.
func Tools() error {
	for _, t := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%w: %s is not on PATH (install a JDK 17+ and Maven 3.8+)", ErrMissingTool, t)
		}
	}
	return nil
}

// CacheDir is where the generated poms and classpath files live:
// $XDG_CACHE_HOME/trialflow/jvm (the jars themselves are in ~/.m2).
func CacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("jvm: cache dir: %w", err)
	}
	return filepath.Join(d, "trialflow", "jvm"), nil
}

// Classpath resolves arts and their runtime dependencies with mvn and
// returns the classpath. The result is kept beside the generated pom, keyed
// by the artifacts, so later calls do not start mvn. log receives mvn's
// output (nil discards it).
func Classpath(ctx context.Context, arts []Artifact, log *bytes.Buffer) (string, error) {
	if err := Tools(); err != nil {
		return "", err
	}
	base, err := CacheDir()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, a := range arts {
		fmt.Fprintln(h, a.String())
	}
	dir := filepath.Join(base, hex.EncodeToString(h.Sum(nil))[:16])
	cpFile := filepath.Join(dir, "classpath.txt")
	if b, err := os.ReadFile(cpFile); err == nil && classpathPresent(string(b)) {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("jvm: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), []byte(pom(arts)), 0o644); err != nil {
		return "", fmt.Errorf("jvm: %w", err)
	}
	tmp := cpFile + ".tmp"
	cmd := exec.CommandContext(ctx, "mvn", "-B", "-q", "-f", filepath.Join(dir, "pom.xml"),
		"dependency:build-classpath", "-DincludeScope=runtime", "-Dmdep.outputFile="+tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if log != nil {
		log.Write(out.Bytes())
	}
	if err != nil {
		return "", fmt.Errorf("jvm: mvn could not resolve %s: %w\n%s", artList(arts), err, tail(out.String(), 2000))
	}
	b, err := os.ReadFile(tmp)
	if err != nil {
		return "", fmt.Errorf("jvm: mvn wrote no classpath for %s: %w", artList(arts), err)
	}
	// The artifacts themselves are not in build-classpath's output.
	cp := strings.TrimSpace(string(b))
	repo, err := localRepo()
	if err != nil {
		return "", err
	}
	for _, a := range arts {
		cp = filepath.Join(repo, strings.ReplaceAll(a.Group, ".", "/"), a.Name, a.Version, a.Name+"-"+a.Version+".jar") + string(os.PathListSeparator) + cp
	}
	if err := os.WriteFile(cpFile, []byte(cp), 0o644); err != nil {
		return "", fmt.Errorf("jvm: %w", err)
	}
	_ = os.Remove(tmp)
	return cp, nil
}

func localRepo() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("jvm: home dir: %w", err)
	}
	return filepath.Join(home, ".m2", "repository"), nil
}

func classpathPresent(cp string) bool {
	cp = strings.TrimSpace(cp)
	if cp == "" {
		return false
	}
	for _, p := range strings.Split(cp, string(os.PathListSeparator)) {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

func artList(arts []Artifact) string {
	s := make([]string, len(arts))
	for i, a := range arts {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func pom(arts []Artifact) string {
	var b strings.Builder
	b.WriteString(`<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>trialflow.jvm</groupId>
  <artifactId>classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
`)
	for _, a := range arts {
		fmt.Fprintf(&b, "    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n", a.Group, a.Name, a.Version)
	}
	b.WriteString("  </dependencies>\n</project>\n")
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("jvm: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until addr accepts a TCP connection, exited is closed (the
// process died), or timeout passes.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("jvm: process exited before %s accepted connections", addr)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jvm: %s did not accept connections within %v: %w", addr, timeout, err)
		}
	}
}

// Process is a running java program.
type Process struct {
	cmd    *exec.Cmd
	Exited chan struct{} // closed when the process ends
	err    error
}

// Start runs `java jvmArgs -cp cp main args`, in its own process group,
// with output to logFile. Stop ends it.
func Start(cp string, jvmArgs []string, main string, args []string, dir, logFile string) (*Process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("jvm: %w", err)
	}
	a := append(append(append([]string{}, jvmArgs...), "-cp", cp, main), args...)
	cmd := exec.Command("java", a...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("jvm: start %s: %w", main, err)
	}
	p := &Process{cmd: cmd, Exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.Exited)
	}()
	return p, nil
}

// Pid is the java process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM to the process group, waits up to grace, then kills it.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.Exited:
		return
	default:
	}
	terminate(p.cmd)
	select {
	case <-p.Exited:
	case <-time.After(grace):
		kill(p.cmd)
		<-p.Exited
	}
}

// LogTail returns the last 4,000 bytes of the log file at path (empty when
// it cannot be read), for errors about a JVM that did not come up.
func LogTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
