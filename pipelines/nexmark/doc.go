// Package nexmark is the Nexmark benchmark on transforms/join: an event
// generator that follows Beam Java's GeneratorConfig rules (event type by id
// mod 50 for 1:3:46 persons:auctions:bids, ids from 1000, active-person and
// in-flight-auction windows, hot sellers, bidders and auctions) with a fixed
// seed, and queries Q3 (interval join with state), Q4 (bids within an
// auction's lifetime, then averages per category; bounded input) and Q8
// (10-second tumbling window join). Events travel as compact binary payloads
// (AppendPerson, DecodePerson, ...). RefQ3, RefQ4 and RefQ8 evaluate the
// queries by brute force in memory; golden outputs for a fixed configuration
// live in testdata/nexmark.
package nexmark
