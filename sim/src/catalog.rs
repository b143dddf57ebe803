//! Fixed reference records that the simulated models point to but that the simulator does not
//! store as models (countries, currencies, companies, departments), and word lists for the
//! data generator.

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

/// The display name of a reference record, when the target model is one of the fixed ones.
pub fn reference_name(model: &str, id: i64) -> Option<&'static str> {
    let table = match model {
        "res.country" => COUNTRIES,
        "res.currency" => CURRENCIES,
        "res.company" => COMPANIES,
        "hr.department" => DEPARTMENTS,
        _ => return None,
    };
    table.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}
