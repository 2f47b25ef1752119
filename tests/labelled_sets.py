"""Labelled text sets that tests and bench/classify.py build, deterministically.

The texts are composed from sentences typical of each label, shuffled with a fixed
seed, so every run (and every machine) sees the same items and the same answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TOPICS: dict[str, tuple[str, ...]] = {
    "sports": (
        "The striker scored twice in the second half and the home crowd went wild.",
        "After a tense final set, the champion lifted the trophy for the third time.",
        "The coach praised the defence for keeping a clean sheet in the derby.",
        "The marathon runners faced heavy rain over the last ten kilometres.",
        "The team signed a new goalkeeper before the transfer window closed.",
        "Fans queued for hours to buy tickets for the cup semi-final.",
        "The sprinter broke the national record in the hundred metres.",
        "A late penalty decided the match and sent the club to the top of the league.",
    ),
    "technology": (
        "The new smartphone ships with a faster chip and a brighter display.",
        "Engineers released a software update that fixes the security flaw in the browser.",
        "The startup trained a machine learning model on millions of images.",
        "Cloud servers went down for an hour, taking several popular apps offline.",
        "The laptop's battery now lasts a full day thanks to a more efficient processor.",
        "Developers can now run the open source database on a single small computer.",
        "The company unveiled a robot that sorts parcels in the warehouse.",
        "A new programming language feature makes concurrent code easier to write.",
    ),
    "health": (
        "Doctors recommend at least thirty minutes of exercise a day for a healthy heart.",
        "The hospital opened a new ward for children with breathing problems.",
        "A clinical trial found that the vaccine reduced severe illness by half.",
        "Nurses warned that the flu season has started earlier than usual this year.",
        "Getting enough sleep lowers stress and helps the immune system.",
        "The patient recovered quickly after surgery on her knee.",
        "Researchers linked a diet rich in sugar to a higher risk of diabetes.",
        "The clinic offers free blood pressure checks every Tuesday morning.",
    ),
    "finance": (
        "Shares fell sharply after the bank reported lower quarterly profits.",
        "The central bank raised interest rates to fight rising inflation.",
        "Investors moved money into government bonds as markets grew nervous.",
        "The company's revenue grew by twelve percent compared with last year.",
        "Mortgage costs have climbed, squeezing household budgets across the country.",
        "The stock exchange closed at a record high on Friday.",
        "Analysts expect the currency to weaken after the trade deficit widened.",
        "The firm cut its dividend to pay down debt.",
    ),
    "food": (
        "Simmer the tomato sauce with garlic and basil for twenty minutes.",
        "The bakery sells fresh sourdough bread and croissants every morning.",
        "This soup recipe needs carrots, onions, lentils and a pinch of cumin.",
        "The chef served grilled fish with lemon butter and roasted potatoes.",
        "Whisk the eggs with sugar until the mixture is pale, then fold in the flour.",
        "The new restaurant downtown is famous for its spicy noodles.",
        "Add a little salt to the pasta water before it boils.",
        "The cheese platter came with grapes, walnuts and crackers.",
    ),
}

TOPIC_DESCRIPTIONS: dict[str, str] = {
    "sports": "games, matches, athletes, teams and competitions",
    "technology": "computers, software, phones, the internet and gadgets",
    "health": "medicine, doctors, illness, fitness and wellbeing",
    "finance": "money, markets, banks, companies' results and the economy",
    "food": "cooking, recipes, restaurants and things to eat",
}

SENTIMENT: dict[str, tuple[str, ...]] = {
    "positive": (
        "I absolutely love this product, it works perfectly.",
        "The staff were friendly and the service was excellent.",
        "Best purchase I have made this year, highly recommended!",
        "What a wonderful experience, we will definitely come back.",
        "The quality is great and it arrived earlier than expected.",
        "I am very happy with the result, thank you so much.",
        "Fantastic value for money and easy to use.",
        "The hotel room was clean, quiet and beautiful.",
    ),
    "negative": (
        "This is the worst product I have ever bought, total waste of money.",
        "The staff were rude and we waited an hour for cold food.",
        "It broke after two days and support never answered my emails.",
        "Terrible experience, I want a refund immediately.",
        "The room was dirty and the noise kept us awake all night.",
        "I am very disappointed, it does not work at all.",
        "Awful quality, the package arrived damaged and late.",
        "Never again, this company does not care about its customers.",
    ),
}


@dataclass(frozen=True)
class LabelledSet:
    name: str
    labels: tuple[str, ...]
    descriptions: tuple[str, ...]
    texts: tuple[str, ...]
    answers: tuple[str, ...]


def topic_set(count: int, sentences: int | tuple[int, ...] = 3, seed: int = 7) -> LabelledSet:
    """Texts of a few sentences on one topic (3 sentences: about 40 tokens; a tuple
    gives the count for each item in turn)."""
    counts = (sentences,) if isinstance(sentences, int) else sentences
    rng = random.Random(seed)
    labels = tuple(TOPICS)
    texts: list[str] = []
    answers: list[str] = []
    for index in range(count):
        label = labels[index % len(labels)]
        texts.append(" ".join(rng.sample(TOPICS[label], counts[index % len(counts)])))
        answers.append(label)
    order = list(range(count))
    rng.shuffle(order)
    return LabelledSet(
        "topic",
        labels,
        tuple(TOPIC_DESCRIPTIONS[label] for label in labels),
        tuple(texts[i] for i in order),
        tuple(answers[i] for i in order),
    )


def sentiment_set(count: int, seed: int = 11) -> LabelledSet:
    """Customer reviews of one or two sentences, positive or negative."""
    rng = random.Random(seed)
    labels = tuple(SENTIMENT)
    texts: list[str] = []
    answers: list[str] = []
    for index in range(count):
        label = labels[index % len(labels)]
        texts.append(" ".join(rng.sample(SENTIMENT[label], 1 + index % 2)))
        answers.append(label)
    order = list(range(count))
    rng.shuffle(order)
    return LabelledSet(
        "sentiment",
        labels,
        ("the writer likes it", "the writer dislikes it"),
        tuple(texts[i] for i in order),
        tuple(answers[i] for i in order),
    )


def accuracy(predicted: list[str], answers: tuple[str, ...]) -> float:
    return sum(p == a for p, a in zip(predicted, answers, strict=True)) / len(answers)


def expected_calibration_error(
    confidences: list[float], correct: list[bool], bins: int = 5
) -> float:
    """Mean |accuracy - confidence| over confidence bins, weighted by bin size."""
    total = len(confidences)
    error = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if low < c <= high or (b == 0 and c == 0)]
        if not members:
            continue
        acc = sum(correct[i] for i in members) / len(members)
        conf = sum(confidences[i] for i in members) / len(members)
        error += len(members) / total * abs(acc - conf)
    return error
