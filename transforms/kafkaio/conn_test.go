package kafkaio_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// TestReadSASLPrism reads a cluster that requires SASL, with PLAIN and
// with SCRAM-SHA-256 (passwords by reference: a file and an environment
// variable), and fails with a wrong password.
func TestReadSASLPrism(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "admin", "secret"), kfake.Superuser("SCRAM-SHA-256", "admin", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.SASL(plain.Auth{User: "admin", Pass: "secret"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "in", Value: []byte("x")}, &kgo.Record{Topic: "in", Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_KAFKAIO_TEST_PW", "secret")
	t.Setenv("TF_KAFKAIO_TEST_WRONG", "wrong")

	p, s := beam.NewPipelineWithRoot()
	passert.Count(s, kafkaio.Read(s, brokers, []string{"in"}, kafkaio.WithSASLPlain("admin", secret.File(pw))), "plain", 2)
	passert.Count(s, kafkaio.Read(s, brokers, []string{"in"},
		kafkaio.WithSASLScram(kafkaio.SASLScramSHA256, "admin", secret.Env("TF_KAFKAIO_TEST_PW"))), "scram", 2)
	ptest.RunAndValidate(t, p)

	p, s = beam.NewPipelineWithRoot()
	kafkaio.Read(s, brokers, []string{"in"}, kafkaio.WithSASLPlain("admin", secret.Env("TF_KAFKAIO_TEST_WRONG")))
	if err := ptest.Run(p); err == nil {
		t.Fatal("read with a wrong password succeeded")
	}
}

func TestConnValidate(t *testing.T) {
	for _, c := range []kafkaio.Conn{
		{},
		{Brokers: []string{"b:9092"}, SASLMechanism: "GSSAPI", SASLUser: "u"},
		{Brokers: []string{"b:9092"}, SASLMechanism: "PLAIN"},
		{Brokers: []string{"b:9092"}, SASLMechanism: "PLAIN", SASLUser: "u"}, // no password reference
		{Brokers: []string{"b:9092"}, TLS: true, TLSCertFile: "c.pem"},
		{Brokers: []string{"b:9092"}, Compression: "brotli"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	if _, err := (kafkaio.Conn{Brokers: []string{"b:9092"}, TLS: true, TLSCAFile: "/nonexistent.pem"}).Opts(); err == nil {
		t.Error("missing CA file: want an error")
	}
}

// TestReadBoundedDirect runs the bounded read on the direct runner.
func TestReadBoundedDirect(t *testing.T) {
	brokers := newCluster(t, 2, "in")
	want := produce(t, brokers, "in", 0, 40)
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, beam.ParDo(s, describe, kafkaio.Read(s, brokers, []string{"in"})), stringsAny(want)...)
	if _, err := direct.Execute(context.Background(), p); err != nil {
		t.Fatalf("direct runner: %v", err)
	}
}
