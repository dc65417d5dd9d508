package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/internal/jobgraph"
	"github.com/trialflow/trialflow/internal/testpki"
	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// securedStack is a kfake broker that requires SASL/SCRAM-SHA-512 over TLS
// and a registry over HTTPS with users, the contracts registered.
type securedStack struct {
	pki                     testpki.PKI
	brokers                 []string
	regURL                  string
	kafkaPW, regPW, adminPW string
	kafkaPWEnv, regPWFile   string
	tenants                 []string
	synth                   synth.Config
	kafkaOpts               []kgo.Opt
}

func newSecuredStack(t *testing.T) *securedStack {
	t.Helper()
	s := &securedStack{kafkaPW: "kafka-pw-3d9e61b0", regPW: "matcher-pw-71c4aa2e", adminPW: "admin-pw-0f8b5d13",
		kafkaPWEnv: "TF_TEST_KAFKA_PW", pki: testpki.New(t, "client")}
	s.synth = synth.DefaultConfig()
	s.synth.Patients, s.synth.Tenants, s.synth.Trials, s.synth.Seed = 120, 2, 4, 11
	for i := 0; i < s.synth.Tenants; i++ {
		s.tenants = append(s.tenants, fmt.Sprintf("practice-%02d", i+1))
	}
	var topics []string
	for _, c := range schemas.All() {
		topics = append(topics, c.Topic)
	}
	for _, tn := range s.tenants {
		topics = append(topics, schemas.ApprovedPatients.Topic+"."+tn)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "matcher", s.kafkaPW),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{s.pki.Server}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	s.brokers = kc.ListenAddrs()

	dir := t.TempDir()
	us, err := registry.LoadUsers(usersFile(t, dir, map[string][2]string{"admin": {s.adminPW, "admin"}, "matcher": {s.regPW, "read"}}))
	if err != nil {
		t.Fatal(err)
	}
	s.regPWFile = writeFile(t, dir, "matcher-pw", s.regPW+"\n")
	srvTLS, err := registry.ServerTLSConfig(s.pki.ServerCert, s.pki.ServerKey, "")
	if err != nil {
		t.Fatal(err)
	}
	url, srv, err := registry.StartServer("127.0.0.1:0", "", registry.WithUsers(us), registry.WithTLS(srvTLS),
		registry.WithAuditLog(filepath.Join(dir, "audit.log")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s.regURL = url
	t.Setenv("TF_TEST_ADMIN_PW", s.adminPW)
	admin, err := registry.NewClient(url, registry.WithAuth(registry.Auth{User: "admin", Password: secret.Env("TF_TEST_ADMIN_PW"), CAFile: s.pki.CAFile}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range schemas.All() {
		if _, err := admin.Register(c.ValueSubject(), c.Schema()); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(s.kafkaPWEnv, s.kafkaPW)
	conn := kafkaio.Conn{Brokers: s.brokers, TLS: true, TLSCAFile: s.pki.CAFile,
		SASLMechanism: kafkaio.SASLScramSHA512, SASLUser: "matcher", SASLPassword: secret.Env(s.kafkaPWEnv)}
	if s.kafkaOpts, err = conn.Opts(); err != nil {
		t.Fatal(err)
	}
	return s
}

// clientFlags are the security flags of a command on the stack: every
// secret by reference.
func (s *securedStack) clientFlags() []string {
	return []string{"--bootstrap", strings.Join(s.brokers, ","), "--registry", s.regURL,
		"--kafka-ca", s.pki.CAFile, "--kafka-sasl", "SCRAM-SHA-512", "--kafka-user", "matcher", "--kafka-password", "env:" + s.kafkaPWEnv,
		"--registry-user", "matcher", "--registry-password", "file:" + s.regPWFile, "--registry-ca", s.pki.CAFile}
}

// gen produces the synthetic data set (and corrupt undecodable facts) with
// `gen` on the secured stack.
func (s *securedStack) gen(t *testing.T, corrupt int) {
	t.Helper()
	args := append(s.clientFlags(), "--patients", strconv.Itoa(s.synth.Patients), "--tenants", strconv.Itoa(s.synth.Tenants),
		"--trials", strconv.Itoa(s.synth.Trials), "--seed", strconv.FormatUint(s.synth.Seed, 10), "--corrupt", strconv.Itoa(corrupt))
	if err := <-runCommand(context.Background(), gen, args...); err != nil {
		t.Fatalf("gen on the secured stack: %v", err)
	}
}

// secrets are the stack's secret values.
func (s *securedStack) secrets() map[string]string {
	return map[string]string{"Kafka password": s.kafkaPW, "registry password": s.regPW, "registry admin password": s.adminPW}
}

// securedMatch is a bounded `match` on a secured stack, with history,
// digests and per-tenant topics, and what it left behind.
type securedMatch struct {
	stack      *securedStack
	args       []string
	graph      []byte
	logs       string
	historyDir string
	digestDir  string
}

func runSecuredMatch(t *testing.T) *securedMatch {
	t.Helper()
	s := newSecuredStack(t)
	s.gen(t, 3)
	m := &securedMatch{stack: s, historyDir: t.TempDir(), digestDir: t.TempDir()}
	m.args = append(s.clientFlags(), "--shards", "2", "--tick", "10m", "--per-tenant-topics",
		"--history", m.historyDir, "--digests", m.digestDir, "--group", "trialmatch-secured")
	var graphErr error
	pipelineBuilt = func(p *beam.Pipeline) { m.graph, graphErr = jobgraph.Marshal(p) }
	defer func() { pipelineBuilt = nil }()
	stop := captureOutput(t)
	err := <-runCommand(context.Background(), matchCmd, m.args...)
	m.logs = stop()
	if err != nil {
		t.Fatalf("match on the secured stack: %v\n%s", err, m.logs)
	}
	if graphErr != nil || m.graph == nil {
		t.Fatalf("the match pipeline was not serialized: %v", graphErr)
	}
	return m
}

// topicRecords reads every record of topics on the secured stack.
func (s *securedStack) topicRecords(t *testing.T, topics ...string) map[string][]*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(s.kafkaOpts, kgo.ConsumeTopics(topics...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string][]*kgo.Record{}
	// Bounded runs are over: read until three polls in a row bring nothing.
	idle := 0
	for idle < 3 {
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out[r.Topic] = append(out[r.Topic], r); n++ })
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
				t.Fatalf("reading %s: %v", e.Topic, e.Err)
			}
		}
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
		if ctx.Err() != nil {
			t.Fatal("reading the outputs timed out")
		}
	}
	return out
}

// TestMatchCommandSecured runs `match` (bounded) through its own flags
// against a broker that requires SASL/SCRAM over TLS and an HTTPS registry
// with users, the passwords by reference (an environment variable and a
// file): it publishes matches and commits its group, and no password is in
// its arguments, its logs or its serialized pipeline (while the
// references are).
func TestMatchCommandSecured(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the matching pipeline")
	}
	m := runSecuredMatch(t)
	s := m.stack
	recs := s.topicRecords(t, schemas.ApprovedPatients.Topic)
	if len(recs[schemas.ApprovedPatients.Topic]) == 0 {
		t.Fatalf("the secured match published nothing on approved_patients; its output:\n%s", m.logs)
	}
	if !strings.Contains(m.logs, "Prism web UI") {
		t.Errorf("the captured output lacks the runner's notices: the log check proves nothing:\n%s", m.logs)
	}
	for name, v := range s.secrets() {
		if strings.Contains(strings.Join(m.args, " "), v) {
			t.Errorf("the %s is in match's arguments", name)
		}
		if strings.Contains(m.logs, v) {
			t.Errorf("the %s is in match's logs", name)
		}
		if jobgraph.Contains(m.graph, v) {
			t.Errorf("the %s is in the serialized match pipeline", name)
		}
	}
	for _, ref := range []string{s.kafkaPWEnv, s.regPWFile} {
		if !jobgraph.Contains(m.graph, ref) {
			t.Errorf("reference %s is not in the pipeline: the graph check proves nothing", ref)
		}
	}
}

// birthDates are the ISO dates (YYYY-MM-DD) of every birth date in the
// synthetic facts of c.
func birthDates(t *testing.T, c synth.Config) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range synth.Generate(c).Facts {
		if f.Demographics != nil && f.Demographics.BirthDate != nil {
			out[time.Unix(int64(*f.Demographics.BirthDate)*86400, 0).UTC().Format(time.DateOnly)] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("the synthetic facts have no birth dates: the PHI scan would prove nothing")
	}
	return out
}

// scanPHI fails when text holds a birth date or the birth_date field name.
func scanPHI(t *testing.T, where string, text []byte, dates map[string]bool) {
	t.Helper()
	if bytes.Contains(bytes.ToLower(text), []byte("birth_date")) || bytes.Contains(bytes.ToLower(text), []byte("birthdate")) {
		t.Errorf("%s names the birth date field", where)
	}
	for d := range dates {
		if bytes.Contains(text, []byte(d)) {
			t.Errorf("%s holds birth date %s", where, d)
			return
		}
	}
}

// TestNoBirthDateInAnyOutput runs `match` on synthetic facts (3 of them
// undecodable, so dead letters) with every output on: approved_patients,
// the per-tenant topics, the Parquet history, the digests, the dead
// letters and the captured logs; none holds a birth date of the input (as
// YYYY-MM-DD) or the birth_date field. Dead letters keep, by default, a
// reference to the rejected record, not the record.
func TestNoBirthDateInAnyOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the matching pipeline")
	}
	m := runSecuredMatch(t)
	s := m.stack
	dates := birthDates(t, s.synth)

	// The input does carry them (as Avro dates), so a scan of a record that
	// copied the facts' decoded form would find them.
	topics := []string{schemas.ApprovedPatients.Topic, schemas.DeadLetters.Topic}
	for _, tn := range s.tenants {
		topics = append(topics, schemas.ApprovedPatients.Topic+"."+tn)
	}
	recs := s.topicRecords(t, topics...)
	for _, tp := range topics {
		if len(recs[tp]) == 0 {
			t.Errorf("%s is empty: nothing to scan", tp)
		}
		for _, r := range recs[tp] {
			raw := append(append([]byte(nil), r.Key...), r.Value...)
			for _, h := range r.Headers {
				raw = append(append(raw, h.Key...), h.Value...)
			}
			scanPHI(t, fmt.Sprintf("%s record at offset %d", tp, r.Offset), raw, dates)
		}
	}
	// approved_patients decoded (as JSON: its times as RFC 3339).
	codec, err := goavro.NewCodec(schemas.ApprovedPatients.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[schemas.ApprovedPatients.Topic] {
		if len(r.Value) < 5 {
			t.Fatalf("approved_patients offset %d: %d bytes", r.Offset, len(r.Value))
		}
		native, _, err := codec.NativeFromBinary(r.Value[5:])
		if err != nil {
			t.Fatalf("approved_patients offset %d: %v", r.Offset, err)
		}
		ap, err := schemas.ApprovedPatientFromNative(native)
		if err != nil {
			t.Fatalf("approved_patients offset %d: %v", r.Offset, err)
		}
		j, _ := json.Marshal(ap)
		scanPHI(t, "decoded approved_patients record", j, dates)
	}
	// Dead letters hold a reference, not the payload, by default (an
	// inline payload would carry the birth date as an Avro int, which the
	// scan above cannot see).
	if n := len(recs[schemas.DeadLetters.Topic]); n < 3 {
		t.Errorf("%d dead letters; want at least the 3 corrupt facts", n)
	}
	dlCodec, err := goavro.NewCodec(schemas.DeadLetters.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[schemas.DeadLetters.Topic] {
		native, _, err := dlCodec.NativeFromBinary(r.Value[5:])
		if err != nil {
			t.Fatalf("dead_letter offset %d: %v", r.Offset, err)
		}
		m := native.(map[string]any)
		if m["payload"] != nil {
			t.Errorf("dead_letter offset %d carries its payload inline", r.Offset)
		}
		if m["payload_ref"] == nil {
			t.Errorf("dead_letter offset %d has no payload reference", r.Offset)
		}
	}
	// Parquet history, decoded and raw (column names are in the footer).
	hist, err := history.Read(m.historyDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) == 0 {
		t.Error("the history is empty: nothing to scan")
	}
	for _, a := range hist {
		j, _ := json.Marshal(a)
		scanPHI(t, "history record", j, dates)
	}
	// Every file under the history and digest directories, raw.
	nfiles := 0
	for _, dir := range []string{m.historyDir, m.digestDir} {
		err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			nfiles++
			scanPHI(t, path, b, dates)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if digests, _ := filepath.Glob(filepath.Join(m.digestDir, "*", "*.json")); len(digests) == 0 {
		t.Error("no digests written: nothing to scan")
	}
	scanPHI(t, "the run's logs", []byte(m.logs), dates)
	t.Logf("scanned %d topics, %d history rows, %d files, %d bytes of logs for %d birth dates", len(topics), len(hist), nfiles, len(m.logs), len(dates))
}
