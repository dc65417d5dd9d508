package kafkaio_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/internal/testpki"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// TestReadWriteTLSPrism copies a topic on a TLS-only cluster, verifying
// the brokers against a CA file.
func TestReadWriteTLSPrism(t *testing.T) {
	pki := testpki.New(t, "client")
	caFile := pki.CAFile
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTLSConfig(&tls.Config{RootCAs: pki.CA, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "in", Value: []byte("secret")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	p, s := beam.NewPipelineWithRoot()
	recs := kafkaio.Read(s, brokers, []string{"in"}, kafkaio.WithTLS(caFile, "", ""))
	passert.Count(s, recs, "in", 1)
	kafkaio.Write(s, brokers, beam.ParDo(s, retopic, recs), kafkaio.ToTopic("out"), kafkaio.WithTLS(caFile, "", ""))
	ptest.RunAndValidate(t, p)

	p, s = beam.NewPipelineWithRoot()
	passert.Count(s, kafkaio.Read(s, brokers, []string{"out"}, kafkaio.WithTLS(caFile, "", "")), "out", 1)
	ptest.RunAndValidate(t, p)
}
