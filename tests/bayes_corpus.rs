//! The Bayes filter on the labelled corpus of tests/data/corpus (written by
//! scripts/corpus.py): trains on two thirds, classifies the other third,
//! and checks how much ham is misfiled as spam and how much spam is found.
//!
//! `cargo test --test bayes_corpus -- --nocapture` prints the figures.

use facteur::antispam::bayes::{tokenise_unparsed, Bayes, Settings, Tokens};
use std::path::{Path, PathBuf};

fn messages(class: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/corpus")
        .join(class);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    v.sort();
    v
}

fn tokens(p: &Path) -> (Tokens, [u8; 32]) {
    tokenise_unparsed(std::io::BufReader::new(std::fs::File::open(p).unwrap())).unwrap()
}

#[test]
fn corpus_precision_and_recall() {
    let ham = messages("ham");
    let spam = messages("spam");
    assert!(ham.len() >= 300 && spam.len() >= 250, "corpus missing");
    let db = sled::Config::new().temporary(true).open().unwrap();
    let bayes = Bayes::with_tree(db.open_tree("bayes").unwrap(), Settings::default());
    // A fixed split: every third message is held out.
    let held = |i: usize| i % 3 == 2;
    for (class, list) in [(false, &ham), (true, &spam)] {
        for (_, p) in list.iter().enumerate().filter(|(i, _)| !held(*i)) {
            let (t, id) = tokens(p);
            bayes.train("user@x", &id, &t, class, 0).unwrap();
        }
    }
    let cutoff = bayes.settings().spam_cutoff;
    let ham_cutoff = bayes.settings().ham_cutoff;
    let (mut tp, mut fp, mut fneg, mut unsure_spam, mut unsure_ham, mut ham_n, mut spam_n) =
        (0, 0, 0, 0, 0, 0, 0);
    for (class, list) in [(false, &ham), (true, &spam)] {
        for (_, p) in list.iter().enumerate().filter(|(i, _)| held(*i)) {
            let (t, _) = tokens(p);
            let c = bayes
                .classify("user@x", &t)
                .unwrap()
                .expect("trained enough");
            let said_spam = c.indicator >= cutoff;
            let unsure = !said_spam && c.indicator > ham_cutoff;
            match (class, said_spam) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    println!("ham as spam: {} ({:.3})", p.display(), c.indicator);
                }
                (true, false) => {
                    fneg += 1;
                    println!("spam missed: {} ({:.3})", p.display(), c.indicator);
                }
                (false, false) => {}
            }
            if unsure {
                if class {
                    unsure_spam += 1;
                } else {
                    unsure_ham += 1;
                }
            }
            if class {
                spam_n += 1;
            } else {
                ham_n += 1;
            }
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fneg).max(1));
    let fp_rate = f64::from(fp) / f64::from(ham_n);
    println!(
        "held out: {ham_n} ham, {spam_n} spam; spam found {tp}, ham as spam {fp}, spam missed {fneg} \
         (unsure: {unsure_ham} ham, {unsure_spam} spam)"
    );
    println!(
        "spam precision {:.3}, recall {:.3}, ham misfiled {:.2}%",
        precision,
        recall,
        fp_rate * 100.0
    );
    assert!(fp_rate < 0.01, "ham misfiled as spam: {fp_rate}");
    assert!(recall >= 0.85, "spam recall {recall}");
}
