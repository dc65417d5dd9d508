// Package nexmark is the Nexmark benchmark on transforms/join: an event
// generator that follows Beam Java's GeneratorConfig rules (event type by id
// mod 50 for 1:3:46 persons:auctions:bids, ids from 1000, active-person and
// in-flight-auction windows, hot sellers, bidders and auctions) with a fixed
// seed, and queries Q3 (interval join with state; row or batched path), Q4
// (bids within an auction's lifetime, then averages per category) and Q8
// (10-second tumbling window join). Events travel as compact binary payloads
// (AppendPerson, DecodePerson, ...); decoders reject truncated payloads and
// trailing bytes. Validate checks payloads (Check) and sends malformed
// events, such as undecodable bytes or a bid for an auction id no auction
// can have, to a dead-letter PCollection of deadletter.Record with the
// reason, so that in = valid + dead letters; Q3 and Q4 likewise return the
// rows their interval joins report late as dead letters
// (join.LateToDeadLetters). RefQ3, RefQ4 and RefQ8
// evaluate the queries by brute force in memory; golden outputs for a fixed
// configuration live in testdata/nexmark.
//
// Q4 aggregates in the global window with the default trigger: on
// unbounded input its one result fires when the watermark reaches the end
// of the global window (the end of the input), and then equals the bounded
// result (TestQ4Unbounded). It gives no running averages while the stream
// is open.
package nexmark
