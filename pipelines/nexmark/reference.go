package nexmark

import (
	"fmt"
	"sort"
)

// This file evaluates the queries by brute force over all events in memory.
// The tests hold the Beam pipelines to it.

// Q8Window is the tumbling window of Q8 in ms.
const Q8Window = 10_000

// Generate returns all events of cfg.
func Generate(cfg Config) []Event {
	g := NewGenerator(cfg)
	out := make([]Event, cfg.NumEvents)
	for i := range out {
		out[i] = g.Event(int64(i))
	}
	return out
}

// Q3Line formats one Q3 result.
func Q3Line(p Person, a Auction) string {
	return fmt.Sprintf("%s,%s,%s,%d", p.Name, p.City, p.State, a.ID)
}

// Q3Person and Q3Auction are Q3's filters.
func Q3Person(p Person) bool   { return p.State == "OR" || p.State == "ID" || p.State == "CA" }
func Q3Auction(a Auction) bool { return a.Category == 10 }

// Q8Line formats one Q8 result.
func Q8Line(windowStart int64, p Person, a Auction) string {
	return fmt.Sprintf("%d,%d,%s,%d", windowStart, p.ID, p.Name, a.Reserve)
}

// Q4Line formats one Q4 result.
func Q4Line(category int64, avg float64) string {
	return fmt.Sprintf("%d,%.2f", category, avg)
}

// RefQ3 is Q3 by nested loops: who sells in category 10 from OR, ID or CA.
func RefQ3(events []Event) []string {
	var out []string
	for _, ea := range events {
		if ea.Auction == nil || !Q3Auction(*ea.Auction) {
			continue
		}
		for _, ep := range events {
			if ep.Person != nil && Q3Person(*ep.Person) && ep.Person.ID == ea.Auction.Seller {
				out = append(out, Q3Line(*ep.Person, *ea.Auction))
			}
		}
	}
	sort.Strings(out)
	return out
}

// RefQ8 is Q8 by nested loops: new persons who opened an auction in the same
// 10-second window.
func RefQ8(events []Event) []string {
	var out []string
	for _, ep := range events {
		if ep.Person == nil {
			continue
		}
		w := ep.Person.DateTime - ep.Person.DateTime%Q8Window
		for _, ea := range events {
			if ea.Auction != nil && ea.Auction.Seller == ep.Person.ID && ea.Auction.DateTime-ea.Auction.DateTime%Q8Window == w {
				out = append(out, Q8Line(w, *ep.Person, *ea.Auction))
			}
		}
	}
	sort.Strings(out)
	return out
}

// Wins reports whether bid b can win auction a: placed during the auction
// and at or above the reserve.
func Wins(a Auction, b Bid) bool {
	return b.Auction == a.ID && b.DateTime >= a.DateTime && b.DateTime < a.Expires && b.Price >= a.Reserve
}

// Better reports whether bid x beats bid y: higher price, then earlier, then
// lower bidder id.
func Better(x, y Bid) bool {
	if x.Price != y.Price {
		return x.Price > y.Price
	}
	if x.DateTime != y.DateTime {
		return x.DateTime < y.DateTime
	}
	return x.Bidder < y.Bidder
}

// RefQ4 is Q4 by nested loops: the average winning price per category.
func RefQ4(events []Event) []string {
	sum := map[int64]float64{}
	n := map[int64]int{}
	for _, ea := range events {
		if ea.Auction == nil {
			continue
		}
		var best *Bid
		for _, eb := range events {
			if eb.Bid != nil && Wins(*ea.Auction, *eb.Bid) && (best == nil || Better(*eb.Bid, *best)) {
				best = eb.Bid
			}
		}
		if best != nil {
			sum[ea.Auction.Category] += float64(best.Price)
			n[ea.Auction.Category]++
		}
	}
	var out []string
	for c, s := range sum {
		out = append(out, Q4Line(c, s/float64(n[c])))
	}
	sort.Strings(out)
	return out
}
