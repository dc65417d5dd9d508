// Package catalog turns the open-trial table into eligibility verdicts for
// the decide ledger: it parses each trial version's CTML once (cached by
// protocol and version), compiles the match engine, applies the regulatory
// decisions (closed trials, arms closed everywhere or at one site) and
// judges batches of patient profiles.
//
// Compiling is the expensive part, and the table changes often: every
// trial opening, closing or holding an arm at a site is a new table. So
// the two are kept apart:
//   - a Compiler compiles every trial version it knows, open or not and
//     with every arm, into one engine per day (ages depend on the day),
//     shared by all its users; a version it has not seen makes it compile
//     again, and Know tells it every version up front;
//   - a Table holds the decision per protocol and what derives from it
//     (open arms, per site too), brought up to date one decision at a time
//     (Set) at a cost that does not grow with the number of trials;
//   - a Catalog is a Table's state on one day over its Compiler's engine:
//     it keeps the engine's hits on the clauses the table leaves open.
//
// A table change therefore costs a few map updates instead of compiling
// every open trial again; with 1,000 trials and thousands of table states
// in a replay, that is the difference between a run that ends and one that
// does not. Build is the one-off form: a Table set to some decisions and
// its Catalog.
//
// A trial whose CTML cannot be parsed is left out and reported by
// Rejected, so the pipeline can dead-letter it with the parser's message
// (which names the trial, the path and the field).
//
// The package is pure Go and imports nothing from Beam.
package catalog
