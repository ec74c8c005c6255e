//! Reciprocal rank fusion of the lexical and dense rankings: each list
//! gives a document 1 / (K + rank); scores are not compared across lists,
//! so BM25-and-coverage and cosine need no common scale.

/// Documents taken from each ranking before fusing.
pub(crate) const CANDIDATES: usize = 32;

/// RRF's constant. The usual 60 flattens a list of a shop's few dozen
/// sections until the weaker ranking decides; 1 keeps first place worth
/// clearly more than second (measured with `spur-eval answers`, README).
const RRF_K: f32 = 1.0;

/// The dense ranking counts half: a static model is coarser than the
/// lexical coverage, and adds most where that finds nothing (paraphrases).
const DENSE_WEIGHT: f32 = 0.5;

/// Dense hits below this similarity are noise for any question (a static
/// model gives unrelated sentences 0.0-0.3): they join the fusion only when
/// the lexical ranking found them too.
pub(crate) const MIN_DENSE_SIMILARITY: f32 = 0.3;

/// A lead in lexical coverage (more than this) no closeness overturns for
/// first place (measured with `spur-eval answers`: 0.3-0.5 alike on the
/// ten shops).
const COVERAGE_LEAD: f32 = 0.4;

/// A fused hit: the article, its fused score, and each ranking's own measure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Hit {
    pub index: usize,
    pub score: f32,
    /// Lexical coverage (0 when only the dense ranking found it).
    pub coverage: f32,
    pub similarity: f32,
}

/// `lexical`: (index, coverage, score) best first, as `Index::rank` gives;
/// `similarities`: one per document.
pub(crate) fn fuse(lexical: &[(usize, f32, f32)], similarities: &[f32], k: usize) -> Vec<Hit> {
    let mut dense: Vec<usize> = (0..similarities.len())
        .filter(|&i| similarities[i] >= MIN_DENSE_SIMILARITY)
        .collect();
    let by_similarity =
        |a: &usize, b: &usize| similarities[*b].total_cmp(&similarities[*a]).then(a.cmp(b));
    if dense.len() > CANDIDATES {
        dense.select_nth_unstable_by(CANDIDATES, by_similarity);
        dense.truncate(CANDIDATES);
    }
    dense.sort_by(by_similarity);

    let mut hits: Vec<Hit> = Vec::new();
    let mut add = |index: usize, rank: usize, coverage: f32, weight: f32| {
        let share = weight / (RRF_K + rank as f32 + 1.0);
        match hits.iter_mut().find(|h| h.index == index) {
            Some(hit) => {
                hit.score += share;
                hit.coverage = hit.coverage.max(coverage);
            }
            None => hits.push(Hit {
                index,
                score: share,
                coverage,
                similarity: similarities.get(index).copied().unwrap_or(0.0),
            }),
        }
    };
    for (rank, &(index, coverage, _)) in lexical.iter().enumerate() {
        add(index, rank, coverage, 1.0);
    }
    for (rank, &index) in dense.iter().enumerate() {
        add(index, rank, 0.0, DENSE_WEIGHT);
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    // Closeness reorders sections the question's words rank alike; it
    // never puts one first ahead of a section covering far more of the
    // question ("pay it off in instalments": the payment section covers
    // all of it, "change my order after paying" half).
    if let Some(best) = hits
        .iter()
        .enumerate()
        .filter(|(_, h)| h.coverage > hits[0].coverage + COVERAGE_LEAD)
        .max_by(|(_, a), (_, b)| a.coverage.total_cmp(&b.coverage))
        .map(|(i, _)| i)
    {
        let hit = hits.remove(best);
        hits.insert(0, hit);
    }
    hits.truncate(k);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_both_rankings_like_beats_one_only_one_likes() {
        // Lexical: 0 then 1. Dense: 1 then 2.
        let lexical = [(0, 0.8, 1.0), (1, 0.5, 0.6)];
        let sims = [0.1, 0.8, 0.7];
        let hits = fuse(&lexical, &sims, 3);
        let order: Vec<usize> = hits.iter().map(|h| h.index).collect();
        assert_eq!(order, [1, 0, 2]);
        assert_eq!(hits[0].coverage, 0.5);
        assert_eq!(hits[2].coverage, 0.0);
        assert_eq!(hits[2].similarity, 0.7);
    }

    #[test]
    fn closeness_never_puts_a_half_covered_section_before_a_fully_covered_one() {
        // Lexical: 0 covers all of the question, 1 half; dense: 1 far ahead.
        let lexical = [(0, 1.0, 2.0), (1, 0.5, 1.0)];
        let similarities = [0.1, 0.9];
        let hits = fuse(&lexical, &similarities, 2);
        assert_eq!(hits[0].index, 0, "{hits:?}");
        // A smaller lead leaves the fused order alone.
        let lexical = [(0, 0.8, 2.0), (1, 0.5, 1.0)];
        let hits = fuse(&lexical, &similarities, 2);
        assert_eq!(hits[0].index, 1, "{hits:?}");
    }

    #[test]
    fn weak_dense_hits_are_left_out() {
        let hits = fuse(&[], &[0.1, 0.2, 0.5], 3);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].index, 2);
    }
}
