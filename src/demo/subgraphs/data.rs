//! The shop's data: products `"1"`..=`"100"`, a few reviews each and the ten
//! users who wrote them, computed from the numbers so every run, every
//! subgraph and every test see the same values.

/// How many products the shop sells (upcs `"1"`..=`"100"`).
pub(crate) const PRODUCTS: u32 = 100;

const ADJECTIVES: [&str; 10] = [
    "Red", "Quiet", "Sturdy", "Tiny", "Folding", "Classic", "Electric", "Wooden", "Travel", "Smart",
];
const NOUNS: [&str; 10] = [
    "Chair", "Kettle", "Lamp", "Backpack", "Table", "Clock", "Bicycle", "Speaker", "Tent", "Mug",
];
const BODIES: [&str; 5] = [
    "Does what it says.",
    "Arrived quickly, works well.",
    "Smaller than I expected.",
    "Would buy again.",
    "Broke after a month.",
];
const USERNAMES: [&str; 10] = [
    "ada", "brian", "claude", "dennis", "edsger", "frances", "grace", "hedy", "ivan", "jean",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Product {
    pub(crate) upc: String,
    pub(crate) name: String,
    pub(crate) price: i32,
    pub(crate) weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Review {
    pub(crate) id: String,
    pub(crate) body: &'static str,
    pub(crate) rating: i32,
    /// The author's user id.
    pub(crate) author: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) username: &'static str,
}

/// `upc`'s number, when it names one of the shop's products (`"1"`, not `"01"`).
fn number(upc: &str) -> Option<u32> {
    let n: u32 = upc.parse().ok()?;
    ((1..=PRODUCTS).contains(&n) && n.to_string() == upc).then_some(n)
}

fn product_number(n: u32) -> Product {
    let i = n as usize - 1;
    Product {
        upc: n.to_string(),
        name: format!("{} {}", ADJECTIVES[i % 10], NOUNS[i / 10 % 10]),
        // 100..=1999: about half above the free-shipping line at 1000.
        price: 100 + (n * 7919 % 1900) as i32,
        weight: 1 + (n * 37 % 50) as i32,
    }
}

pub(crate) fn product(upc: &str) -> Option<Product> {
    number(upc).map(product_number)
}

/// The first `first` products by upc (all of them when `first` is larger).
pub(crate) fn top_products(first: usize) -> Vec<Product> {
    (1..=PRODUCTS).take(first).map(product_number).collect()
}

/// One to three reviews per product; none for an upc the shop does not sell.
pub(crate) fn reviews(upc: &str) -> Vec<Review> {
    let Some(n) = number(upc) else {
        return Vec::new();
    };
    (0..1 + n % 3)
        .map(|i| Review {
            id: format!("{n}-{}", i + 1),
            body: BODIES[((n + i) % 5) as usize],
            rating: 1 + ((n * 3 + i) % 5) as i32,
            author: (1 + (n + i * 3) % 10).to_string(),
        })
        .collect()
}

/// Users `"1"`..=`"10"`.
pub(crate) fn user(id: &str) -> Option<User> {
    let n: usize = id.parse().ok()?;
    let username = *USERNAMES.get(n.checked_sub(1)?)?;
    (n.to_string() == id).then(|| User {
        id: id.to_owned(),
        username,
    })
}

/// Every seventh product is sold out.
pub(crate) fn in_stock(upc: &str) -> bool {
    number(upc).is_some_and(|n| n % 7 != 0)
}

/// Free above a price of 1000, otherwise half the weight (rounded up): the
/// answer depends on both fields inventory `@requires`.
pub(crate) fn shipping_estimate(price: i64, weight: i64) -> i64 {
    if price > 1000 { 0 } else { (weight + 1) / 2 }
}
