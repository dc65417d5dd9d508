package kafkaio_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/trialflow/trialflow/internal/jobgraph"
	"github.com/trialflow/trialflow/internal/testpki"
	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// TestSCRAMOverTLSSecretByReference copies a topic on a broker that
// requires TLS and SASL/SCRAM-SHA-512. The password reaches the workers
// as the name of an environment variable: it is neither in the serialized
// pipeline nor in any log line of the run.
func TestSCRAMOverTLSSecretByReference(t *testing.T) {
	const password = "scram-pw-5d1e0b7a93"
	pki := testpki.New(t, "client")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "tf", password),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTLSConfig(&tls.Config{RootCAs: pki.CA, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: "tf", Pass: password}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "in", Value: []byte("a")}, &kgo.Record{Topic: "in", Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	t.Setenv("TF_TEST_KAFKA_PASSWORD", password)

	conn := kafkaio.Conn{Brokers: brokers, TLS: true, TLSCAFile: pki.CAFile,
		SASLMechanism: kafkaio.SASLScramSHA512, SASLUser: "tf", SASLPassword: secret.Env("TF_TEST_KAFKA_PASSWORD")}
	p, s := beam.NewPipelineWithRoot()
	recs := kafkaio.Read(s, brokers, []string{"in"}, kafkaio.WithConn(conn))
	passert.Count(s, recs, "in", 2)
	kafkaio.Write(s, brokers, beam.ParDo(s, retopic, recs), kafkaio.ToTopic("out"), kafkaio.WithConn(conn))

	graph, err := jobgraph.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if jobgraph.Contains(graph, password) {
		t.Fatal("the SASL password is in the serialized pipeline")
	}
	if !jobgraph.Contains(graph, "TF_TEST_KAFKA_PASSWORD") {
		t.Fatal("the password's reference is not in the pipeline: the check above proves nothing")
	}

	var logs bytes.Buffer
	saved := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(saved)
	ptest.RunAndValidate(t, p)
	if strings.Contains(logs.String(), password) {
		t.Fatal("the SASL password is in the run's logs")
	}

	p, s = beam.NewPipelineWithRoot()
	passert.Count(s, kafkaio.Read(s, brokers, []string{"out"}, kafkaio.WithConn(conn)), "out", 2)
	ptest.RunAndValidate(t, p)

	// Without the variable on the worker the read fails, naming it.
	os.Unsetenv("TF_TEST_KAFKA_PASSWORD")
	p, s = beam.NewPipelineWithRoot()
	kafkaio.Read(s, brokers, []string{"in"}, kafkaio.WithConn(conn))
	if err := ptest.Run(p); err == nil || !strings.Contains(err.Error(), "TF_TEST_KAFKA_PASSWORD") {
		t.Fatalf("run without the password variable: %v", err)
	}
}
