package trialmatch

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/engine"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
)

// Kinds of Event.
const (
	kindDecision int8 = iota + 1
	kindFact
	kindTrial
	kindRegulatory
	kindBatch // Data is a JSON []Event of facts for one shard and tick
	kindFacts // Data is length-prefixed patient_facts Avro bodies of one shard (appendFactBody)
)

// decodeItems decodes fact and decision events for the engine.
func decodeItems(events []Event) ([]engine.Item, error) {
	items := make([]engine.Item, len(events))
	for i, ev := range events {
		items[i] = engine.Item{TS: ev.TS}
		switch ev.Kind {
		case kindFact:
			f, err := ev.fact()
			if err != nil {
				return nil, err
			}
			items[i].Kind, items[i].Fact = engine.Fact, f
		case kindDecision:
			d, err := ev.decision()
			if err != nil {
				return nil, err
			}
			items[i].Kind, items[i].Decision = engine.Decision, &d
		default:
			return nil, fmt.Errorf("trialmatch: shard got an event of kind %d", ev.Kind)
		}
	}
	return items, nil
}

// Event is one element of a stateful stage's keyed input: a fact, a trial
// version, a regulatory event or an open-trial decision, JSON-encoded, with
// its event time in milliseconds.
type Event struct {
	Kind int8
	TS   int64
	Data []byte
}

func encodeEvent(kind int8, ts time.Time, v any) (Event, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Event{}, fmt.Errorf("trialmatch: encode event: %w", err)
	}
	return Event{Kind: kind, TS: ts.UnixMilli(), Data: b}, nil
}

func (e Event) fact() (*schemas.PatientFact, error) {
	f := &schemas.PatientFact{}
	if err := json.Unmarshal(e.Data, f); err != nil {
		return nil, fmt.Errorf("trialmatch: decode fact event: %w", err)
	}
	return f, nil
}

func (e Event) trial() (*schemas.Trial, error) {
	t := &schemas.Trial{}
	if err := json.Unmarshal(e.Data, t); err != nil {
		return nil, fmt.Errorf("trialmatch: decode trial event: %w", err)
	}
	return t, nil
}

func (e Event) regulatory() (*schemas.RegulatoryEvent, error) {
	r := &schemas.RegulatoryEvent{}
	if err := json.Unmarshal(e.Data, r); err != nil {
		return nil, fmt.Errorf("trialmatch: decode regulatory event: %w", err)
	}
	return r, nil
}

func (e Event) decision() (opentrials.Decision, error) {
	var d opentrials.Decision
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return d, fmt.Errorf("trialmatch: decode decision event: %w", err)
	}
	return d, nil
}

// tickOf rounds ts (ms) up to the next multiple of tick (ms); tick <= 0
// leaves it as it is.
func tickOf(ts, tick int64) int64 {
	if tick <= 0 {
		return ts
	}
	q := ts / tick * tick
	if q < ts {
		q += tick
	}
	return q
}

// shardOf spreads patients over n shards.
func shardOf(tenant, patient string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(patient))
	return int(h.Sum32() % uint32(n))
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
