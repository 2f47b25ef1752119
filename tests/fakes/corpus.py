"""A small company document set in every format, and questions with known answers.

Used by the retrieval-quality tests and by ``bench/docs.py``. Each question names the
file (and page, for PDFs) whose passage answers it. ``keyword`` questions share words
with their answer; ``paraphrase`` questions use other words for the same things (only
vector search can find those), which is what fusion is for.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.documents import write_docx, write_pdf


@dataclass(frozen=True)
class Question:
    text: str
    file: str
    page: int | None = None
    kind: str = "keyword"


_FILLER_WORDS = tuple(
    re.findall(
        r"\w+",
        """
    meeting team project customer office report plan budget review week month days staff
    quality supplier contract market sales product service training schedule agenda decision
    action item follow up update status risk delivery region manager city costs price order
    invoice travel laptop password year growth board
""",
    )
)


def write_distractors(folder: Path, files: int = 30, sections: int = 6, seed: int = 7) -> None:
    """Meeting minutes that share the documents' vocabulary but answer nothing."""
    rng = random.Random(seed)
    for number in range(files):
        lines = [f"# Meeting minutes {number + 1}", ""]
        for section in range(sections):
            lines += [f"## Item {section + 1}", ""]
            words = [rng.choice(_FILLER_WORDS) for _ in range(rng.randint(40, 90))]
            lines += [" ".join(words).capitalize() + ".", ""]
        (folder / f"minutes-{number + 1:03d}.md").write_text("\n".join(lines), encoding="utf-8")


def write_corpus(folder: Path, distractors: int = 30) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_distractors(folder, distractors)
    (folder / "handbook.md").write_text(
        "# Employee handbook\n\n"
        "## Holidays\n\nEvery employee has 27 days of paid holiday per year. Unused "
        "holiday days can be carried over until the end of March.\n\n"
        "## Parking\n\nStaff parking is in the basement garage, level minus two. "
        "Visitors park in the yard behind the reception.\n\n"
        "## Working from home\n\nRemote work is allowed on up to three days a week after "
        "agreement with the team lead.\n",
        encoding="utf-8",
    )
    write_pdf(
        folder / "annual-report.pdf",
        [
            ["Annual report 2024", "", "Revenue grew by 12 percent to 48 million euros."],
            ["Costs", "", "Shipping costs fell by 9 percent after the switch to rail freight."],
            [
                "Outlook",
                "",
                "The board expects moderate growth and two new branch offices in 2025.",
            ],
        ],
        title="Annual report 2024",
    )
    write_docx(
        folder / "pricing.docx",
        [
            ("h1", "Price list"),
            ("p", "Standard licences cost 40 euros per seat and month."),
            ("h2", "Volume discounts"),
            ("p", "Orders above 100 seats receive a discount of 15 percent."),
            ("h2", "Payment terms"),
            ("p", "Invoices are payable within 30 days; late payment incurs interest."),
        ],
    )
    (folder / "it-security.html").write_text(
        "<html><head><title>IT security</title></head><body>"
        "<h1>Passwords</h1><p>Passwords must have at least 14 characters and are changed "
        "only after a suspected compromise.</p>"
        "<h1>Laptops</h1><p>Laptop disks are encrypted with BitLocker; a lost laptop must be "
        "reported to the service desk within one hour.</p></body></html>",
        encoding="utf-8",
    )
    (folder / "offices.csv").write_text(
        "office,city,manager,phone\n"
        "HQ,Hamburg,Anna Schulz,+49 40 1234\n"
        "South,Munich,Peter Braun,+49 89 5678\n"
        "West,Cologne,Lena Wolf,+49 221 9012\n",
        encoding="utf-8",
    )
    (folder / "travel.txt").write_bytes(
        "Travel policy\n\nTrain journeys over four hours may be booked in first class.\n\n"
        "Hotel rooms are reimbursed up to 120 euros per night; in Munich up to 150 euros.\n\n"
        "Café receipts must show the VAT amount.\n".encode("cp1252")
    )
    return folder


QUESTIONS: tuple[Question, ...] = (
    Question("How many days of paid holiday does an employee get?", "handbook.md"),
    Question("Where is staff parking?", "handbook.md"),
    Question("How many days a week is remote work allowed?", "handbook.md"),
    Question("By how much did revenue grow?", "annual-report.pdf", 1),
    Question("Why did shipping costs fall?", "annual-report.pdf", 2),
    Question("How many new branch offices are expected?", "annual-report.pdf", 3),
    Question("What does a standard licence cost per seat?", "pricing.docx"),
    Question("What discount do orders above 100 seats get?", "pricing.docx"),
    Question("Within how many days are invoices payable?", "pricing.docx"),
    Question("How long must passwords be?", "it-security.html"),
    Question("Who do I tell about a lost laptop?", "it-security.html"),
    Question("Who manages the Munich office?", "offices.csv"),
    Question("What is the hotel limit per night in Munich?", "travel.txt"),
    Question("When can train journeys be booked in first class?", "travel.txt"),
    # Other words than the documents use: BM25 cannot match them, vectors can.
    Question("Where do employees leave their cars?", "handbook.md", kind="paraphrase"),
    Question("How much vacation do workers get annually?", "handbook.md", kind="paraphrase"),
    Question("What was the turnover increase?", "annual-report.pdf", 1, kind="paraphrase"),
    Question("What is the reduction for large purchases?", "pricing.docx", kind="paraphrase"),
    Question("How quickly must bills be settled?", "pricing.docx", kind="paraphrase"),
)

# The fake embedder's "meaning": words that stand for the same concept.
_CONCEPTS: dict[str, str] = {
    "car": "park",
    "cars": "park",
    "parking": "park",
    "park": "park",
    "garage": "park",
    "vacation": "holiday",
    "holiday": "holiday",
    "holidays": "holiday",
    "leave": "park",
    "annually": "year",
    "year": "year",
    "employees": "staff",
    "workers": "staff",
    "employee": "staff",
    "staff": "staff",
    "turnover": "revenue",
    "revenue": "revenue",
    "increase": "grow",
    "grew": "grow",
    "grow": "grow",
    "growth": "grow",
    "reduction": "discount",
    "discount": "discount",
    "discounts": "discount",
    "large": "volume",
    "volume": "volume",
    "purchases": "order",
    "orders": "order",
    "bills": "invoice",
    "invoices": "invoice",
    "invoice": "invoice",
    "settled": "payable",
    "payable": "payable",
    "payment": "payable",
    "quickly": "days",
    "days": "days",
}
_WORD = re.compile(r"\w+")
DIMENSIONS = 256


class ConceptEmbedder:
    """A deterministic stand-in for an embedding model: bag of concepts, hashed."""

    model_id = "fake-concepts-v1"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        vectors = []
        for text in texts:
            vector = [0.0] * DIMENSIONS
            for word in _WORD.findall(text.lower()):
                concept = _CONCEPTS.get(word, word)
                slot = int(hashlib.blake2b(concept.encode(), digest_size=4).hexdigest(), 16)
                vector[slot % DIMENSIONS] += 1.0 if concept != word or word in _CONCEPTS else 0.3
            vectors.append(vector)
        return vectors
