package faulttest

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

// Stack is a one-broker kfake cluster behind a listener that can fail, and
// a durable Schema Registry that can be stopped and restarted.
type Stack struct {
	Name    string
	kafka   *kfake.Cluster
	ln      *flakyListener
	regAddr string // host:port the registry listens on, kept across restarts
	regDir  string
	regMu   sync.Mutex
	reg     io.Closer
	ids     synth.IDs

	admMu    sync.Mutex
	adm      *kadm.Client
	admClose func()
}

// StartStack starts a stack with every contract's topic (3 partitions) and
// the contracts' value subjects registered; the test's cleanup stops it.
func StartStack(t testing.TB, name string) *Stack {
	t.Helper()
	s := &Stack{Name: name, regDir: filepath.Join(t.TempDir(), "registry")}
	var topics []string
	for _, c := range schemas.All() {
		topics = append(topics, c.Topic)
	}
	kc, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(3),
		kfake.SeedTopics(3, topics...),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			s.ln = &flakyListener{Listener: l, conns: map[*trackedConn]struct{}{}}
			return s.ln, nil
		}),
	)
	if err != nil {
		t.Fatalf("faulttest: start kafka: %v", err)
	}
	s.kafka = kc
	t.Cleanup(kc.Close)
	t.Cleanup(func() {
		s.admMu.Lock()
		defer s.admMu.Unlock()
		if s.admClose != nil {
			s.admClose()
		}
	})
	u, reg, err := registry.StartServer("127.0.0.1:0", s.regDir)
	if err != nil {
		t.Fatalf("faulttest: start registry: %v", err)
	}
	pu, _ := url.Parse(u)
	s.regAddr, s.reg = pu.Host, reg
	t.Cleanup(func() { _ = s.StopRegistry() })
	cl, err := registry.NewClient(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		c  schemas.Contract
		id *uint32
	}{{schemas.PatientFacts, &s.ids.Facts}, {schemas.Trials, &s.ids.Trials}, {schemas.Regulatory, &s.ids.Regulatory},
		{schemas.ApprovedPatients, nil}, {schemas.DeadLetters, nil}} {
		id, err := cl.Register(x.c.ValueSubject(), x.c.Schema())
		if err != nil {
			t.Fatalf("faulttest: register %s: %v", x.c.ValueSubject(), err)
		}
		if x.id != nil {
			*x.id = uint32(id)
		}
	}
	return s
}

// Bootstrap is the broker's address.
func (s *Stack) Bootstrap() []string { return s.kafka.ListenAddrs() }

// RegistryURL is the registry's base URL (the same across restarts).
func (s *Stack) RegistryURL() string { return "http://" + s.regAddr }

// IDs are the registry ids the feed frames records with.
func (s *Stack) IDs() synth.IDs { return s.ids }

// StopRegistry stops the registry server (its data stays on disk).
func (s *Stack) StopRegistry() error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.reg == nil {
		return nil
	}
	err := s.reg.Close()
	s.reg = nil
	return err
}

// StartRegistry restarts a stopped registry on the same address from its
// data dir, retrying for a few seconds while the port is still held.
func (s *Stack) StartRegistry() error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.reg != nil {
		return nil
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		var reg io.Closer
		if _, reg, err = registry.StartServer(s.regAddr, s.regDir); err == nil {
			s.reg = reg
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("faulttest: restart registry on %s: %w", s.regAddr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BrokerDown closes every open connection to the broker and leaves new ones
// unanswered until BrokerUp closes them: a network partition, which clients
// see as request timeouts. (Accepting and closing at once looked to
// franz-go like a TLS misconfiguration, an error it does not retry; the
// listener itself cannot close, kfake would stop serving.)
func (s *Stack) BrokerDown() { s.ln.setDown(true) }

// BrokerUp ends BrokerDown.
func (s *Stack) BrokerUp() { s.ln.setDown(false) }

// flakyListener wraps the broker's listener. It must never return an error
// from Accept while the cluster runs (kfake stops listening on one), so
// while down it accepts and holds connections unanswered.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	down  bool
	conns map[*trackedConn]struct{}
	held  []net.Conn
}

func (l *flakyListener) setDown(down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = down
	if down {
		for c := range l.conns {
			c.Conn.Close() // the raw conn: trackedConn.Close takes l.mu
		}
		clear(l.conns)
		return
	}
	for _, c := range l.held {
		c.Close()
	}
	l.held = nil
}

func (l *flakyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.down {
			l.held = append(l.held, c)
			l.mu.Unlock()
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

type trackedConn struct {
	net.Conn
	l    *flakyListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
