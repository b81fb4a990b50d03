//! End-to-end: `atalaya classify train|eval|predict|show` with the real binary and the real
//! embedding model (prepared by `make models`), on a small support set in English, Spanish
//! and Portuguese with out-of-scope examples.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_atalaya");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn classify(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(BIN);
    c.arg("classify")
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .current_dir(repo())
        .env_remove("ATALAYA_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{o:?}");
    serde_json::from_slice(&o.stdout).unwrap()
}

const INTENTS: [(&str, [&str; 6]); 3] = [
    (
        "card_lost",
        [
            "I lost my card",
            "my card was stolen",
            "perdí mi tarjeta",
            "me robaron la tarjeta de crédito",
            "perdi meu cartão",
            "roubaram meu cartão de crédito",
        ],
    ),
    (
        "refund",
        [
            "I want a refund for my order",
            "please give me my money back",
            "quiero un reembolso del pedido",
            "devuélvanme el dinero de la compra",
            "quero o reembolso do pedido",
            "devolvam meu dinheiro",
        ],
    ),
    (
        "delivery_status",
        [
            "where is my package",
            "my delivery has not arrived",
            "dónde está mi paquete",
            "mi envío no ha llegado",
            "onde está minha encomenda",
            "minha entrega não chegou",
        ],
    ),
];

fn write_data(path: &Path, extra: &[&str]) {
    let mut s = String::from("text,intent\n");
    for (label, texts) in INTENTS {
        for t in texts {
            for suffix in ["", " please", " today", " help"] {
                s.push_str(&format!("\"{t}{suffix}\",{label}\n"));
            }
        }
    }
    for t in extra {
        s.push_str(&format!("\"{t}\",oos\n"));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn train_eval_predict_show_with_the_embedding_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = d.join("train.csv");
    write_data(
        &train,
        &[
            "what is the weather tomorrow",
            "tell me a joke",
            "qual é a capital da França",
            "cuál es tu película favorita",
        ],
    );
    let t = json(&classify(
        d,
        &[
            "train",
            "--name",
            "intents",
            "--data",
            train.to_str().unwrap(),
            "--epochs",
            "15",
            "--validation-fraction",
            "0.25",
        ],
        None,
    ));
    assert_eq!(t["labels"], 3);
    assert_eq!(t["embedding_model"], "all-minilm-l6-v2");
    assert_eq!(t["data_sha256"].as_array().unwrap().len(), 1);
    assert!(t["threshold_method"]
        .as_str()
        .unwrap()
        .contains("out-of-scope recall"));
    assert!(
        t["validation"]["macro_f1_without_threshold"]
            .as_f64()
            .unwrap()
            > 0.8,
        "{t}"
    );

    // Unseen phrasings; one line in, one JSON line out.
    let o = classify(
        d,
        &["predict", "--name", "intents"],
        Some("someone stole my credit card\n\n¿dónde está mi pedido?\n"),
    );
    assert!(o.status.success(), "{o:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["prediction"]["best"], "card_lost", "{lines:?}");
    assert_eq!(
        lines[1]["prediction"]["best"], "delivery_status",
        "{lines:?}"
    );

    let test = d.join("test.jsonl");
    std::fs::write(
        &test,
        "{\"text\":\"my card is gone, I think it was stolen\",\"label\":\"card_lost\"}\n\
         {\"text\":\"não recebi o reembolso\",\"label\":\"refund\"}\n\
         {\"text\":\"how tall is the eiffel tower\",\"label\":\"oos\"}\n",
    )
    .unwrap();
    let e = json(&classify(
        d,
        &[
            "eval",
            "--name",
            "intents",
            "--data",
            test.to_str().unwrap(),
        ],
        None,
    ));
    assert_eq!(e["examples"], 3);
    assert_eq!(e["out_of_scope_examples"], 1);
    assert!(e["per_class"].as_array().unwrap().len() >= 2, "{e}");
    assert!(
        e["accuracy_without_threshold"].as_f64().unwrap() >= 0.5,
        "{e}"
    );

    let s = json(&classify(d, &["show", "--name", "intents"], None));
    assert_eq!(s["labels"][0], "card_lost");
    assert!(d.join("classifiers/default/intents.atc").exists());
    // Another tenant has its own classifiers.
    let o = classify(d, &["show", "--name", "intents", "--tenant", "acme"], None);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no classifier 'intents'"),
        "{o:?}"
    );
    let o = classify(d, &["show", "--name", "intents", "--tenant", "../x"], None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("invalid tenant"),
        "{o:?}"
    );

    // Clear errors: an unknown classifier, a bad name, data without a label column.
    let o = classify(d, &["show", "--name", "nope"], None);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no classifier 'nope'"),
        "{o:?}"
    );
    let o = classify(d, &["show", "--name", "../x"], None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("invalid classifier name"),
        "{o:?}"
    );
    let bad = d.join("bad.csv");
    std::fs::write(&bad, "text,whatever\nhello,x\n").unwrap();
    let o = classify(
        d,
        &[
            "train",
            "--name",
            "b",
            "--data",
            bad.to_str().unwrap(),
            "--no-embeddings",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no 'label', 'intent' or 'category' column"),
        "{o:?}"
    );
}
