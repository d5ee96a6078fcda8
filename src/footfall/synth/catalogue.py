"""What the synthetic retailer sells: about 200 products in 8 categories, priced in GBP."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

CURRENCY = "GBP"

# category -> (product nouns, (lowest, highest) price in pounds)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[int, int]]] = {
    "Clothing": (("Shirt", "Jumper", "Jacket", "Dress", "Trousers", "Hoodie", "Coat", "Blouse"), (18, 140)),
    "Footwear": (("Trainers", "Boots", "Loafers", "Sandals", "Brogues", "Slippers"), (25, 160)),
    "Accessories": (("Scarf", "Belt", "Wallet", "Backpack", "Sunglasses", "Hat", "Watch"), (10, 120)),
    "Home": (("Cushion", "Throw", "Lamp", "Vase", "Candle", "Mirror", "Rug"), (8, 180)),
    "Kitchen": (("Teapot", "Knife Set", "Mug", "Frying Pan", "Kettle", "Serving Bowl"), (6, 130)),
    "Beauty": (("Moisturiser", "Serum", "Perfume", "Lip Balm", "Hand Cream", "Shampoo"), (5, 90)),
    "Electronics": (("Headphones", "Speaker", "Charger", "Smart Plug", "E-reader", "Power Bank"), (15, 250)),
    "Outdoor": (("Tent", "Rain Jacket", "Flask", "Walking Poles", "Sleeping Bag", "Camping Stove"), (12, 220)),
}
_ADJECTIVES = (
    "Classic", "Linen", "Organic", "Merino", "Recycled", "Everyday", "Heritage", "Studio", "Coastal",
    "Urban", "Alpine", "Soft", "Minimal", "Vintage", "Premium", "Compact",
)  # fmt: skip


@dataclass(frozen=True)
class Product:
    """One sku with its catalogue price in pounds."""

    sku: str
    name: str
    category: str
    price: float


@dataclass(frozen=True)
class Catalogue:
    """The product list, and the same products grouped by category for "something like this" picks."""

    products: tuple[Product, ...]
    by_category: dict[str, tuple[Product, ...]] = field(hash=False)

    def pick(self, rng: random.Random, category: str | None = None) -> Product:
        """A random product, optionally from one category."""
        return rng.choice(self.by_category[category] if category else self.products)

    def basket(self, rng: random.Random, size: int, avoid: frozenset[str] = frozenset()) -> list[Product]:
        """`size` distinct products none of whose skus are in `avoid`."""
        chosen: dict[str, Product] = {}
        while len(chosen) < size:
            product = rng.choice(self.products)
            if product.sku not in avoid:
                chosen[product.sku] = product
        return list(chosen.values())


def build_catalogue(seed: int, size: int = 200) -> Catalogue:
    """`size` products spread evenly over the categories, with names and prices from a seeded RNG."""
    rng = random.Random(f"{seed}:catalogue")
    names = list(CATEGORIES)
    products = []
    seen: set[str] = set()
    for number in range(1, size + 1):
        category = names[(number - 1) % len(names)]
        nouns, (low, high) = CATEGORIES[category]
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(nouns)}"
        while name in seen:
            name = f"{rng.choice(_ADJECTIVES)} {rng.choice(nouns)} {rng.choice('IVX')}{rng.randint(2, 9)}"
        seen.add(name)
        price = round(rng.uniform(low, high)) - (0.01 if rng.random() < 0.7 else 0.0)
        products.append(Product(f"SKU-{number:05d}", name, category, round(price, 2)))
    by_category = {c: tuple(p for p in products if p.category == c) for c in names}
    return Catalogue(tuple(products), by_category)
