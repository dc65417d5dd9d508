// Package catalog keeps the compiled matching engine for the set of open
// trials: it parses each open trial version's CTML once (cached by protocol
// and version), applies the regulatory decisions (closed arms are suspended,
// closed trials left out), compiles the match engine, and turns a batch of
// patient profiles into eligibility verdicts for the decide ledger.
//
// A trial whose CTML cannot be parsed is left out of the engine and reported
// by Rejected, so the pipeline can dead-letter it with the parser's message
// (which names the trial, the path and the field).
//
// The package is pure Go: the broadcast join's callback calls it with the
// current open-trial table and a batch of profiles.
package catalog
