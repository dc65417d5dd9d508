package main

import (
	"bufio"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/internal/jobgraph"
	"github.com/trialflow/trialflow/internal/listeners"
	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/trialmatch/digest"
	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/runners/local/faulttest"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// TestMain lets tests run the trialflow command as a subprocess: the test
// binary itself, with TRIALFLOW_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("TRIALFLOW_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	faulttest.RemoveBuilds()
	os.Exit(code)
}

// trialflow starts the command with args; its output goes to out.
func trialflow(t *testing.T, out io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRIALFLOW_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// sampleListeners polls the listening sockets of pid until done is closed.
func sampleListeners(pid int, done <-chan struct{}) <-chan []netip.AddrPort {
	res := make(chan []netip.AddrPort, 1)
	go func() {
		seen := map[netip.AddrPort]bool{}
		for {
			ls, _ := listeners.Of(pid)
			for _, a := range ls {
				seen[a] = true
			}
			select {
			case <-done:
				var out []netip.AddrPort
				for a := range seen {
					out = append(out, a)
				}
				res <- out
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return res
}

// TestListenersLoopbackOnly runs `stack up`, then `match` against it and
// `demo`, and lists every socket each process listens on while it runs:
// all must be loopback addresses.
func TestListenersLoopbackOnly(t *testing.T) {
	if _, err := listeners.Of(os.Getpid()); err == listeners.ErrUnsupported {
		t.Skip(err)
	}
	if testing.Short() {
		t.Skip("runs the demo and match as subprocesses")
	}
	// stack up with its default addresses (127.0.0.1:9092 and
	// 127.0.0.1:8081) when they are free, else on free loopback ports.
	stack, bootstrap, regURL := startStack(t, defaultPortsFree())
	if stack == nil {
		stack, bootstrap, regURL = startStack(t, false)
	}
	if stack == nil {
		t.Fatal("stack up printed no addresses")
	}
	ls, err := listeners.Of(stack.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) < 2 {
		t.Fatalf("stack up listens on %v; want Kafka and the registry", ls)
	}
	if bad := listeners.NonLoopback(ls); len(bad) > 0 {
		t.Fatalf("stack up listens beyond loopback: %v", bad)
	}

	for _, args := range [][]string{
		{"match", "--bootstrap", bootstrap, "--registry", regURL, "--shards", "2", "--metrics-addr", "127.0.0.1:0"},
		{"demo", "--patients", "150", "--tenants", "2", "--trials", "4", "--shards", "2", "--out", t.TempDir()},
	} {
		var out strings.Builder
		done := make(chan struct{})
		cmd := trialflow(t, &syncWriter{w: &out}, args...)
		socks := sampleListeners(cmd.Process.Pid, done)
		err := cmd.Wait()
		close(done)
		seen := <-socks
		if err != nil {
			t.Fatalf("%s: %v\n%s", args[0], err, out.String())
		}
		if len(seen) < 2 {
			t.Fatalf("%s: listening sockets seen %v; want at least the job server and the web UI", args[0], seen)
		}
		if bad := listeners.NonLoopback(seen); len(bad) > 0 {
			t.Errorf("%s listens beyond loopback: %v (all: %v)", args[0], bad, seen)
		}
	}
}

// defaultPortsFree reports whether stack up's default addresses are free.
func defaultPortsFree() bool {
	for _, a := range []string{"127.0.0.1:9092", "127.0.0.1:8081"} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// startStack starts `stack up` (with its default addresses, or on free
// loopback ports) and returns it once it runs, with its addresses; nil if
// it did not start (a default port taken meanwhile).
func startStack(t *testing.T, defaults bool) (*exec.Cmd, string, string) {
	t.Helper()
	args := []string{"stack", "up"}
	if !defaults {
		args = append(args, "--kafka-port", "0", "--registry-addr", "127.0.0.1:0")
	}
	pr, pw := io.Pipe()
	stack := trialflow(t, pw, args...)
	exited := make(chan struct{})
	go func() { stack.Wait(); pw.Close(); close(exited) }()
	var bootstrap, regURL string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "kafka bootstrap: "); ok {
			bootstrap = v
		}
		if v, ok := strings.CutPrefix(line, "schema registry: "); ok {
			regURL = v
		}
		if strings.HasPrefix(line, "running") {
			go io.Copy(io.Discard, pr)
			if defaults && (bootstrap != "127.0.0.1:9092" || regURL != "http://127.0.0.1:8081") {
				t.Errorf("stack up with defaults serves %s and %s; want 127.0.0.1:9092 and http://127.0.0.1:8081", bootstrap, regURL)
			}
			t.Logf("stack up (default addresses: %v): %s, %s", defaults, bootstrap, regURL)
			t.Cleanup(func() {
				stack.Process.Signal(os.Interrupt)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					stack.Process.Kill()
					<-exited
				}
			})
			return stack, bootstrap, regURL
		}
	}
	stack.Process.Kill()
	<-exited
	return nil, "", ""
}

// TestIngestSecretsStayOutOfTheGraph builds the ingest as `trialflow ingest`
// does with every secret given by reference (Kafka SCRAM password,
// registry password, key-encryption key, pseudonym keys): none of the
// secrets is in the serialized pipeline, and their references are.
func TestIngestSecretsStayOutOfTheGraph(t *testing.T) {
	dir := t.TempDir()
	const kafkaPW, regPW = "kafka-pw-0c4f7e1d", "registry-pw-93be20aa"
	kek := "base64key://" + strings.Repeat("QUJD", 10) + "QUJDREVGR0g="
	tenantKey := hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kekFile, keyFile, regFile := write("kek", kek), write("tenant-key", tenantKey), write("registry-pw", regPW)
	t.Setenv("TF_TEST_KAFKA_PW", kafkaPW)

	// The command's flags refuse values where references are expected.
	if err := (secretRefs{}).Set("practice-01=" + tenantKey); err == nil || strings.Contains(err.Error(), tenantKey) {
		t.Errorf("--tenant-key with a value: %v", err)
	}
	kr := keeperRefs{urls: map[string]string{}, refs: map[string]secret.Ref{}}
	if err := kr.Set("k1=" + kek); err == nil || strings.Contains(err.Error(), "QUJD") {
		t.Errorf("--keeper with a base64key URL: %v", err)
	}
	var r secret.Ref
	if err := r.Set(kafkaPW); err == nil {
		t.Error("--kafka-password with a value was accepted")
	}

	auth := registry.Auth{User: "ingest", Password: secret.File(regFile)}
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	ingest.Pipeline(s, ingest.PipelineConfig{
		Ingest: ingest.Config{Buckets: []string{"file://" + dir}, KeeperRefs: map[string]secret.Ref{"k1": secret.File(kekFile)},
			TenantKeyRefs: map[string]secret.Ref{"practice-01": secret.File(keyFile)}},
		Conn: kafkaio.Conn{Brokers: []string{"127.0.0.1:9"}, TLS: true, SASLMechanism: kafkaio.SASLScramSHA512,
			SASLUser: "ingest", SASLPassword: secret.Env("TF_TEST_KAFKA_PW")},
		FactSink:    ingest.FactSink{RegistryURL: "https://127.0.0.1:9", RegistryAuth: auth},
		DeadLetters: deadletter.Sink{RegistryURL: "https://127.0.0.1:9", RegistryAuth: auth},
	})
	graph, err := jobgraph.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"Kafka password": kafkaPW, "registry password": regPW, "key-encryption key": strings.TrimPrefix(kek, "base64key://"), "pseudonym key": tenantKey} {
		if jobgraph.Contains(graph, v) {
			t.Errorf("the %s is in the serialized pipeline", name)
		}
	}
	for _, ref := range []string{"TF_TEST_KAFKA_PW", kekFile, keyFile, regFile} {
		if !jobgraph.Contains(graph, ref) {
			t.Errorf("reference %s is not in the pipeline: the checks above prove nothing", ref)
		}
	}
}

// TestNoBirthDateDownstreamOfMatching: the birth date may be in
// patient_facts (exact age criteria), but no output of matching has a
// place for it: approved_patients, dead_letter, the Parquet history and
// the digests; and the only PHI of the Kafka outputs is the pseudonym and
// the (sealed, off by default) dead-letter payload.
func TestNoBirthDateDownstreamOfMatching(t *testing.T) {
	in, err := schemas.PHIPaths(schemas.PatientFacts.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(in, " "), "birth_date") {
		t.Fatalf("patient_facts PHI paths %v lack birth_date: the test below would prove nothing", in)
	}
	allowed := map[string]bool{"patient_id": true, "payload": true}
	for _, c := range []schemas.Contract{schemas.ApprovedPatients, schemas.DeadLetters} {
		if strings.Contains(strings.ToLower(c.Schema()), "birth") {
			t.Errorf("%s's schema mentions a birth date", c.Topic)
		}
		paths, err := schemas.PHIPaths(c.Schema())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if !allowed[p] {
				t.Errorf("%s carries PHI field %s", c.Topic, p)
			}
		}
	}
	var walk func(f arrow.Field)
	walk = func(f arrow.Field) {
		if strings.Contains(strings.ToLower(f.Name), "birth") {
			t.Errorf("history column %s", f.Name)
		}
		if st, ok := f.Type.(*arrow.StructType); ok {
			for _, c := range st.Fields() {
				walk(c)
			}
		}
		if lt, ok := f.Type.(*arrow.ListType); ok {
			walk(lt.ElemField())
		}
	}
	for _, f := range history.Schema.Fields() {
		walk(f)
	}
	var walkType func(reflect.Type)
	walkType = func(rt reflect.Type) {
		for rt.Kind() == reflect.Slice || rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if strings.Contains(strings.ToLower(f.Name), "birth") {
				t.Errorf("digest field %s.%s", rt.Name(), f.Name)
			}
			walkType(f.Type)
		}
	}
	walkType(reflect.TypeOf(digest.Digest{}))
}

// syncWriter serializes writes of a subprocess's stdout and stderr.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
