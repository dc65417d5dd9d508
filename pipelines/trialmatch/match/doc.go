// Package match is trialflow's trial eligibility engine: a pure-Go core
// (no Beam) that matches patient profiles against the match trees of CTML
// trials (package criteria), as MatchMiner does, faster and with
// explanations.
//
// A Profile is the fold of one patient's facts (patient_facts.avsc; the
// pipeline folds them with package spv, State.Apply and FoldAll); profiles travel in Arrow records of ProfileSchema built by
// BuildProfiles (variants as a List<Struct> column). Compile indexes the
// open steps, arms and dose levels of a set of trials; MatchBatch evaluates
// them over a whole record at a time (bitsets of 64 rows per word,
// diagnosis and gene indexes, typed column kernels, a DAG of the clauses in
// which shared subexpressions are evaluated once per batch, see vector.go) and builds each match with its
// reasons; MatchBatchHits returns only the (row, clause) pairs, for stages
// that build reasons later (Matches) for new matches only. Rowwise is the
// straightforward reference over Go structs and gives the same matches, in
// the same order. Explain says, three-valued, why a profile does not match
// an arm and which missing test would decide it.
//
// Semantics follow MatchMiner (matchengine-V2) unless said otherwise:
//
//   - The match trees of a step, an arm and a dose level are evaluated
//     independently; each gives its own Match.
//   - Reasons mirror MatchMiner's trial_match documents: per match path of
//     the tree's disjunctive normal form that holds, one genomic reason per
//     satisfying finding, one per negated genomic leaf ("!TP53 Structural
//     Variation"), or one clinical reason when the path has no genomic leaf.
//     Each names the profile attributes it rests on (Reason.Reads).
//   - A negated genomic leaf holds when no finding matches its other fields.
//   - Age is compared on the birth date against "today" (WithToday) minus
//     the years, fractional years being months.
//   - Suspended arms and dose levels and trials not open to accrual are left
//     out unless WithMatchOnClosed; deceased patients unless
//     WithMatchOnDeceased.
//
// Deliberate differences from MatchMiner:
//
//   - Evaluation is three-valued. A criterion whose data is missing (no
//     PD-L1 result, no birth date, not sequenced) is unknown, not false;
//     only true clauses match, and Explain says which missing test would
//     decide ("would match if PD-L1 were tested"). A negated genomic leaf on
//     a patient never sequenced (Profile.Sequenced false) is unknown, where
//     MatchMiner says "no alteration" and matches. A required PD-L1 clone
//     that differs from the clone used is unknown (the required assay is
//     missing), not false.
//   - Diagnosis names compare exactly, as MatchMiner's $in does; gender,
//     receptor status, disease status and region ignore case.
//   - Structural variants are judged by their own shape (partner genes, else
//     the free-text comment); WithStructuredSVCutover restores DFCI's rule
//     of switching on the report date (2018-12-01).
//   - A dose level of a suspended arm counts as closed; MatchMiner still
//     matches it when match_on_closed is off.
//   - A step with no arms is not "every arm suspended".
//   - Strict age comparisons are strict: ">18" holds from the day after the
//     18th birthday, ">=18" from the birthday itself (and "<18" up to the
//     day before it, "<=18" on it too). MatchMiner turns ">" and ">=" into
//     the same birth-date comparison, so its ">18" already holds on the
//     18th birthday.
//   - PD-L1 scores (TPS, CPS and IC, our extensions) each keep the clone of
//     the assay that measured them; a clone required by a criterion is
//     compared with the clone of that score only.
package match
