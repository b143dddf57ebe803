//! Fixed reference records that the simulated models point to but that the simulator does not
//! store as models (countries, currencies, companies, departments, product categories, units
//! of measure, accounts), and word lists for the data generator.

/// `res.country` ids and names (ids as in a real Odoo database).
pub const COUNTRIES: &[(i64, &str)] = &[
    (233, "United States"),
    (75, "France"),
    (56, "Germany"),
    (21, "Belgium"),
    (231, "United Kingdom"),
    (105, "India"),
    (38, "Canada"),
    (14, "Australia"),
];

/// `res.currency` ids and names.
pub const CURRENCIES: &[(i64, &str)] = &[(1, "USD"), (125, "EUR"), (147, "GBP")];

/// `res.company` ids and names.
pub const COMPANIES: &[(i64, &str)] = &[(1, "YourCompany"), (2, "My Company (Chicago)")];

/// `hr.department` ids and names.
pub const DEPARTMENTS: &[(i64, &str)] = &[
    (1, "Administration"),
    (2, "Management"),
    (3, "Management / Sales"),
    (4, "Management / Research & Development"),
    (5, "Management / Professional Services"),
    (6, "Long Term Projects"),
];

pub const JOB_TITLES: &[&str] = &[
    "Chief Executive Officer",
    "Chief Technical Officer",
    "Consultant",
    "Experienced Developer",
    "Marketing and Community Manager",
    "Human Resources Manager",
    "Trainee",
];

pub const FIRST_NAMES: &[&str] = &[
    "Anita", "Beth", "Carlos", "Doris", "Emma", "Farid", "Gemma", "Hugo", "Ines", "Jeffrey",
    "Keith", "Lena", "Marc", "Nora", "Olivia", "Paul", "Quentin", "Rachel", "Sofia", "Toni",
];

pub const LAST_NAMES: &[&str] = &[
    "Brown", "Cooper", "Dupont", "Evans", "Fischer", "Garcia", "Hansen", "Jensen", "Kelly",
    "Lopez", "Martin", "Novak", "Oliveira", "Peeters", "Rossi", "Smith", "Tanaka", "Weber",
];

pub const COMPANY_WORDS: &[&str] = &[
    "Acme", "Azure", "Deco", "Gemini", "Lumber", "Ready", "Wood", "Bright", "Nova", "Apex",
    "Orbit", "Pioneer", "Summit", "Vertex",
];

pub const COMPANY_SUFFIXES: &[&str] = &[
    "Corporation",
    "Interior",
    "Addict",
    "Furniture",
    "Mat",
    "Systems",
    "Partners",
    "Trading",
];

pub const CITIES: &[&str] = &[
    "Brisbane", "Scranton", "Paris", "Berlin", "Brussels", "London", "Pune", "Toronto", "Fremont",
    "Tracy",
];

/// `product.category` ids and full names up to 18 (Odoo's `product.product_category_*`).
pub const PRODUCT_CATEGORIES: &[(i64, &str)] =
    &[(1, "All"), (2, "All / Saleable"), (3, "All / Expenses")];

/// `product.category` from 19, whose data replaced "All" by goods, services and expenses.
pub const PRODUCT_CATEGORIES_19: &[(i64, &str)] = &[(1, "Goods"), (2, "Services"), (3, "Expenses")];

/// `uom.uom` ids and names (12 wrote plurals as "Unit(s)").
pub const UOMS: &[(i64, &str)] = &[(1, "Units"), (2, "Dozens"), (3, "kg"), (4, "Hours")];
pub const UOMS_12: &[(i64, &str)] = &[(1, "Unit(s)"), (2, "Dozen(s)"), (3, "kg"), (4, "Hour(s)")];

/// `account.account` ids and display names (code and name).
pub const ACCOUNTS: &[(i64, &str)] = &[
    (21, "400000 Product Sales"),
    (26, "600000 Expenses"),
    (6, "121000 Account Receivable"),
    (14, "211000 Account Payable"),
    (17, "251000 Tax Received"),
    (9, "131000 Tax Paid"),
];
pub const ACCOUNT_SALES: usize = 0;
pub const ACCOUNT_EXPENSES: usize = 1;
pub const ACCOUNT_RECEIVABLE: usize = 2;
pub const ACCOUNT_PAYABLE: usize = 3;
pub const ACCOUNT_TAX_RECEIVED: usize = 4;
pub const ACCOUNT_TAX_PAID: usize = 5;

pub const PRODUCT_WORDS: &[&str] = &[
    "Desk", "Chair", "Lamp", "Cabinet", "Shelf", "Table", "Drawer", "Screen", "Stool", "Sofa",
];

pub const PRODUCT_ADJECTIVES: &[&str] = &[
    "Large",
    "Small",
    "Corner",
    "Office",
    "Ergonomic",
    "Conference",
    "Acoustic",
    "Customizable",
];

pub const SERVICE_NAMES: &[&str] = &[
    "Installation",
    "Consulting Hour",
    "Training Session",
    "Maintenance Plan",
    "Delivery",
];

/// The reference records of `model` in a database of `version`.
pub fn reference_table(model: &str, version: u32) -> Option<&'static [(i64, &'static str)]> {
    Some(match model {
        "res.country" => COUNTRIES,
        "res.currency" => CURRENCIES,
        "res.company" => COMPANIES,
        "hr.department" => DEPARTMENTS,
        "product.category" if version >= 19 => PRODUCT_CATEGORIES_19,
        "product.category" => PRODUCT_CATEGORIES,
        "uom.uom" if version == 12 => UOMS_12,
        "uom.uom" => UOMS,
        "account.account" => ACCOUNTS,
        _ => return None,
    })
}

/// The display name of a reference record, when the target model is one of the fixed ones.
pub fn reference_name(model: &str, id: i64, version: u32) -> Option<String> {
    reference_table(model, version)?
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n.to_string())
}
