package trialmatch_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/internal/jobgraph"
	"github.com/trialflow/trialflow/internal/testpki"
	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// TestFromKafkaSecured runs the matching pipeline against a broker that
// requires SASL/SCRAM over TLS and a registry over HTTPS that requires
// users, with every password given by reference: the run publishes its
// matches and commits its group; a second run over the same input reads
// the published ledger with the same security and publishes nothing; no
// password is in the serialized pipeline or in a log line of the runs.
func TestFromKafkaSecured(t *testing.T) {
	ctx := context.Background()
	const kafkaPW, regPW, adminPW = "kafka-pw-7f3a91c2", "matcher-pw-2b6e04d8", "admin-pw-c0ffee11"
	pki := testpki.New(t, "client")
	var topics []string
	for _, c := range schemas.All() {
		topics = append(topics, c.Topic)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...), kfake.AllowAutoTopicCreation(),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "matcher", kafkaPW),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()

	dir := t.TempDir()
	var users strings.Builder
	for _, u := range []struct{ name, pw, role string }{{"admin", adminPW, "admin"}, {"matcher", regPW, "read"}} {
		h, err := registry.HashPassword(u.pw)
		if err != nil {
			t.Fatal(err)
		}
		users.WriteString(u.name + ": " + h + "," + u.role + "\n")
	}
	usersFile := filepath.Join(dir, "users")
	regPWFile := filepath.Join(dir, "matcher-pw")
	for path, v := range map[string]string{usersFile: users.String(), regPWFile: regPW + "\n"} {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	us, err := registry.LoadUsers(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := registry.ServerTLSConfig(pki.ServerCert, pki.ServerKey, "")
	if err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(dir, "audit.log")
	regURL, srv, err := registry.StartServer("127.0.0.1:0", "", registry.WithUsers(us), registry.WithTLS(srvTLS), registry.WithAuditLog(audit))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(regURL, "https://") {
		t.Fatalf("registry URL %s: want https", regURL)
	}
	t.Setenv("TF_TEST_ADMIN_PW", adminPW)
	admin, err := registry.NewClient(regURL, registry.WithAuth(registry.Auth{User: "admin", Password: secret.Env("TF_TEST_ADMIN_PW"), CAFile: pki.CAFile}))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]uint32{}
	for _, c := range schemas.All() {
		id, err := admin.Register(c.ValueSubject(), c.Schema())
		if err != nil {
			t.Fatal(err)
		}
		ids[c.ValueSubject()] = uint32(id)
	}

	t.Setenv("TF_TEST_KAFKA_PW", kafkaPW)
	conn := kafkaio.Conn{Brokers: brokers, TLS: true, TLSCAFile: pki.CAFile,
		SASLMechanism: kafkaio.SASLScramSHA512, SASLUser: "matcher", SASLPassword: secret.Env("TF_TEST_KAFKA_PW")}
	kopts, err := conn.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Tenants, c.Span = 120, 4, 2, 6*time.Hour
	d := synth.Generate(c)
	if _, err := synth.Produce(ctx, cl, d, synth.IDs{Facts: ids[schemas.PatientFacts.ValueSubject()],
		Trials: ids[schemas.Trials.ValueSubject()], Regulatory: ids[schemas.Regulatory.ValueSubject()]}, 0, nil); err != nil {
		t.Fatal(err)
	}
	approvedCount := func() int64 {
		t.Helper()
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, schemas.ApprovedPatients.Topic)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}

	auth := registry.Auth{User: "matcher", Password: secret.File(regPWFile), CAFile: pki.CAFile}
	run := func() {
		t.Helper()
		p, s := beam.NewPipelineWithRoot()
		trialmatch.FromKafka(s, trialmatch.KafkaConfig{Brokers: brokers, Conn: conn, RegistryURL: regURL, RegistryAuth: auth,
			Group: "trialmatch-secured", Pipeline: trialmatch.Config{Shards: 2, Tick: 10 * time.Minute}})
		graph, err := jobgraph.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"Kafka password": kafkaPW, "registry password": regPW, "admin password": adminPW} {
			if jobgraph.Contains(graph, v) {
				t.Errorf("the %s is in the serialized pipeline", name)
			}
		}
		for _, ref := range []string{"TF_TEST_KAFKA_PW", regPWFile} {
			if !jobgraph.Contains(graph, ref) {
				t.Errorf("reference %s is not in the pipeline: the check above proves nothing", ref)
			}
		}
		var logs bytes.Buffer
		saved := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		err = ptest.Run(p)
		slog.SetDefault(saved)
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{kafkaPW, regPW, adminPW} {
			if strings.Contains(logs.String(), pw) {
				t.Errorf("a password is in the run's logs")
			}
		}
	}
	run()
	first := approvedCount()
	if first == 0 {
		t.Fatal("the secured run published nothing on approved_patients")
	}
	lags, err := kadm.NewClient(cl).Lag(ctx, "trialmatch-secured")
	if err != nil {
		t.Fatal(err)
	}
	if lag := lags["trialmatch-secured"]; lag.FetchErr != nil || lag.DescribeErr != nil || len(lag.Lag) == 0 {
		t.Fatalf("group trialmatch-secured: no committed offsets (%v %v)", lag.FetchErr, lag.DescribeErr)
	}
	// The second run reads the ledger (the snapshot, on the workers) with
	// the same references, and finds nothing to publish.
	run()
	if again := approvedCount(); again != first {
		t.Fatalf("a re-run over unchanged input published %d records", again-first)
	}
}
