//! Train, save, load, evaluate and predict on a small synthetic support set (English,
//! Spanish, Portuguese), n-grams only; out-of-scope detection with a calibrated threshold.

use atalaya_classify::{
    data::{self, Example},
    model::TrainOptions,
    train::TrainParams,
    Classifier, OUT_OF_SCOPE,
};

const INTENTS: [(&str, [&str; 6]); 4] = [
    (
        "card_lost",
        [
            "I lost my card {x}",
            "my card was stolen {x}",
            "perdí mi tarjeta {x}",
            "me robaron la tarjeta {x}",
            "perdi meu cartão {x}",
            "roubaram meu cartão {x}",
        ],
    ),
    (
        "refund",
        [
            "I want a refund for my order {x}",
            "please refund the purchase {x}",
            "quiero un reembolso del pedido {x}",
            "devuélvanme el dinero de la compra {x}",
            "quero o reembolso do pedido {x}",
            "devolvam meu dinheiro da compra {x}",
        ],
    ),
    (
        "password_reset",
        [
            "I forgot my password {x}",
            "how do I reset my password {x}",
            "olvidé mi contraseña {x}",
            "cómo cambio la contraseña {x}",
            "esqueci minha senha {x}",
            "como redefinir a senha {x}",
        ],
    ),
    (
        "delivery_status",
        [
            "where is my package {x}",
            "my delivery has not arrived {x}",
            "dónde está mi paquete {x}",
            "mi envío no ha llegado {x}",
            "onde está minha encomenda {x}",
            "minha entrega não chegou {x}",
        ],
    ),
];

const FILLERS: [&str; 10] = [
    "",
    "today",
    "yesterday",
    "please help",
    "urgent",
    "thanks",
    "again",
    "hoy",
    "por favor",
    "obrigado",
];

fn examples() -> Vec<Example> {
    let mut out = Vec::new();
    for (label, templates) in INTENTS {
        for t in templates {
            for f in FILLERS {
                out.push(Example {
                    text: t.replace("{x}", f).trim().to_owned(),
                    label: label.to_owned(),
                });
            }
        }
    }
    out
}

fn oos() -> Vec<Example> {
    [
        "what is the weather like in Lisbon",
        "tell me a joke about cats",
        "who won the football match",
        "qual é a capital da Austrália",
        "cuál es tu canción favorita",
        "recommend a good pizza recipe",
        "how tall is mount everest",
        "me conta uma piada",
    ]
    .iter()
    .map(|t| Example {
        text: (*t).to_owned(),
        label: "oos".to_owned(),
    })
    .collect()
}

fn options() -> TrainOptions {
    TrainOptions {
        params: TrainParams {
            epochs: 15,
            learning_rate: 0.05,
            ..TrainParams::default()
        },
        validation_fraction: 0.2,
        ..TrainOptions::default()
    }
}

#[test]
fn train_save_load_eval_predict_round_trip() {
    let mut all = examples();
    all.extend(oos());
    let c = Classifier::train(
        "intents",
        &all,
        None,
        None,
        &options(),
        vec!["sha".into()],
        |_| {},
    )
    .unwrap();
    assert_eq!(
        c.meta.labels,
        ["card_lost", "delivery_status", "password_reset", "refund"]
    );
    assert!(c.meta.validation.macro_f1 > 0.9, "{:?}", c.meta.validation);
    assert_eq!(c.meta.validation.out_of_scope_examples, 8);
    assert!(c.meta.threshold > 0.0 && c.meta.threshold < 1.0);
    assert!(c.meta.threshold_method.contains("out-of-scope recall"));

    // Unseen phrasings in the three languages.
    for (text, want) in [
        ("somebody stole my card yesterday", "card_lost"),
        ("quiero que me devuelvan el dinero", "refund"),
        ("não lembro a minha senha", "password_reset"),
        ("the package never arrived", "delivery_status"),
    ] {
        let p = c.predict(text, None).unwrap();
        assert_eq!(p.best, want, "{text}: {p:?}");
        assert!(p.margin >= 0.0 && p.top.len() == 3);
    }
    // Far from every intent: out of scope.
    let p = c.predict("what is the best chess opening", None).unwrap();
    assert!(p.out_of_scope, "{p:?}");
    assert_eq!(p.label, OUT_OF_SCOPE);

    // Saved and loaded: the same predictions, the same record.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("classifiers/intents.atc");
    c.save(&path).unwrap();
    let back = Classifier::load(&path).unwrap();
    assert_eq!(back.meta.labels, c.meta.labels);
    assert_eq!(back.meta.threshold, c.meta.threshold);
    assert_eq!(back.meta.data_sha256, ["sha"]);
    for t in ["perdí mi tarjeta", "where is my parcel", "bonjour"] {
        assert_eq!(back.predict(t, None).unwrap(), c.predict(t, None).unwrap());
    }
    // Evaluation counts in-scope and out-of-scope examples apart.
    let mut test = vec![
        Example {
            text: "my card got stolen at the station".into(),
            label: "card_lost".into(),
        },
        Example {
            text: "esqueci a senha do aplicativo".into(),
            label: "password_reset".into(),
        },
    ];
    test.extend(oos().into_iter().take(2));
    let r = back.evaluate(&test, None).unwrap();
    assert_eq!(r.examples, 4);
    assert_eq!(r.out_of_scope_examples, 2);
    assert!(r.accuracy >= 0.5, "{r:?}");
    // The best label's scores are reported too; rejecting can only lower accuracy.
    assert!(r.accuracy_without_threshold.unwrap() >= r.accuracy);

    // The same data and seed train the same file.
    let again = Classifier::train(
        "intents",
        &all,
        None,
        None,
        &options(),
        vec!["sha".into()],
        |_| {},
    )
    .unwrap();
    let path2 = dir.path().join("again.atc");
    again.save(&path2).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&path2).unwrap()
    );
}

#[test]
fn enough_out_of_scope_examples_are_learned_as_a_class() {
    let mut all = examples();
    all.extend(oos());
    let options = TrainOptions {
        out_of_scope_class_min: 8,
        ..options()
    };
    let c = Classifier::train("intents", &all, None, None, &options, vec![], |_| {}).unwrap();
    assert!(
        c.meta.labels.iter().any(|l| l == OUT_OF_SCOPE),
        "{:?}",
        c.meta.labels
    );
    // A share of them is held out, so calibration still sees out-of-scope examples.
    assert!(
        c.meta.validation.out_of_scope_examples >= 1,
        "{:?}",
        c.meta.validation
    );
    for (text, want) in [
        ("somebody stole my card yesterday", "card_lost"),
        ("quiero que me devuelvan el dinero", "refund"),
    ] {
        let p = c.predict(text, None).unwrap();
        assert_eq!(p.label, want, "{text}: {p:?}");
    }
    // Out-of-scope texts are rejected; `best` is always an in-scope label.
    let p = c.predict("tell me a joke about cats", None).unwrap();
    assert!(p.out_of_scope && p.label == OUT_OF_SCOPE, "{p:?}");
    assert_ne!(p.best, OUT_OF_SCOPE, "{p:?}");
    // One fewer than the minimum: they only calibrate.
    let options = TrainOptions {
        out_of_scope_class_min: 9,
        ..options
    };
    let c = Classifier::train("intents", &all, None, None, &options, vec![], |_| {}).unwrap();
    assert!(!c.meta.labels.iter().any(|l| l == OUT_OF_SCOPE));
    assert_eq!(c.meta.validation.out_of_scope_examples, 8);
}

#[test]
fn without_out_of_scope_examples_the_threshold_keeps_most_correct_predictions() {
    let c = Classifier::train("i", &examples(), None, None, &options(), vec![], |_| {}).unwrap();
    assert!(
        c.meta.threshold_method.contains("keeps 97%"),
        "{}",
        c.meta.threshold_method
    );
    assert!(
        c.meta.validation.in_scope_rejected <= 2,
        "{:?}",
        c.meta.validation
    );
}

#[test]
fn bad_files_and_embeddings_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.atc");
    std::fs::write(&p, b"not a model").unwrap();
    let e = Classifier::load(&p).unwrap_err().to_string();
    assert!(e.contains("wrong magic"), "{e}");
    let one = vec![Example {
        text: "a".into(),
        label: "x".into(),
    }];
    let e = Classifier::train("i", &one, None, None, &options(), vec![], |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("two in-scope labels"), "{e}");
    let bad = TrainOptions {
        embedding_weight: f32::NAN,
        ..options()
    };
    let e = Classifier::train("i", &examples(), None, None, &bad, vec![], |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("embedding_weight"), "{e}");
    let bad = TrainOptions {
        threshold: Some(1.5),
        ..options()
    };
    let e = Classifier::train("i", &examples(), None, None, &bad, vec![], |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("threshold must be a probability"), "{e}");
    // A file cut short, or whose header claims sizes the weights do not have, is refused.
    let good = Classifier::train("i", &examples(), None, None, &options(), vec![], |_| {}).unwrap();
    let path = dir.path().join("good.atc");
    good.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let e = Classifier::load(&path).unwrap_err().to_string();
    assert!(e.contains("bytes of weights"), "{e}");
    let needle = b"\"embedding_dims\":0";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the header names embedding_dims");
    let mut forged = bytes.clone();
    forged.splice(
        at..at + needle.len(),
        b"\"embedding_dims\":9999999".iter().copied(),
    );
    let len = u64::from_le_bytes(forged[8..16].try_into().unwrap()) + 6;
    forged[8..16].copy_from_slice(&len.to_le_bytes());
    std::fs::write(&path, &forged).unwrap();
    let e = Classifier::load(&path).unwrap_err().to_string();
    assert!(e.contains("implausible embedding width"), "{e}");
    // A classifier trained with embeddings asks for them.
    let embed = |t: &[String]| -> Result<Vec<Vec<f32>>, String> {
        Ok(t.iter()
            .map(|s| vec![s.len() as f32, 1.0, (s.len() % 7) as f32])
            .collect())
    };
    let c = Classifier::train(
        "e",
        &examples(),
        None,
        Some(("toy", &embed)),
        &options(),
        vec![],
        |_| {},
    )
    .unwrap();
    assert!(c.needs_embedding());
    assert_eq!(c.meta.embedding_model.as_deref(), Some("toy"));
    let e = c.predict("my card", None).unwrap_err().to_string();
    assert!(e.contains("needs embeddings of 'toy'"), "{e}");
    assert!(c.predict("my card", Some(&[1.0, 2.0])).is_err());
    assert!(c.predict("my card", Some(&[1.0, 2.0, 3.0])).is_ok());
    let path = dir.path().join("data.csv");
    std::fs::write(&path, "text,intent\nhello,greet\nbye,leave\n").unwrap();
    let (ex, sha) = data::load(&path).unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!(sha.len(), 64);
}
