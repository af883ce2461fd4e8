//! The stand-ins for the ingest pipeline's enrichment: a small "GeoIP and ASN database" for the
//! addresses the generator uses, and what Elasticsearch's `user_agent` processor extracts from the
//! user agents it uses. Pure lookups in static tables.

/// What GeoIP and the ASN database say about an address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoRecord {
    pub city_name: Option<&'static str>,
    pub continent_name: &'static str,
    pub country_iso_code: &'static str,
    pub country_name: &'static str,
    pub region_iso_code: Option<&'static str>,
    pub region_name: Option<&'static str>,
    pub location: (f64, f64),
    pub asn: Option<(u32, &'static str)>,
}

/// AWS eu-central-1 (Frankfurt), where several of the generator's AWS address ranges sit.
const AWS_FRANKFURT: GeoRecord = GeoRecord {
    city_name: Some("Frankfurt am Main"),
    continent_name: "Europe",
    country_iso_code: "DE",
    country_name: "Germany",
    region_iso_code: Some("DE-HE"),
    region_name: Some("Hesse"),
    location: (50.1188, 8.6843),
    asn: Some((16509, "AMAZON-02")),
};

/// The stand-in GeoIP database: address prefix -> record. Values follow the MaxMind test
/// databases that Elasticsearch's GeoIP tests use (the same as in the shared fixtures).
const GEO_TABLE: &[(&str, GeoRecord)] = &[
    (
        "89.160.20.",
        GeoRecord {
            city_name: Some("Linköping"),
            continent_name: "Europe",
            country_iso_code: "SE",
            country_name: "Sweden",
            region_iso_code: Some("SE-E"),
            region_name: Some("Östergötland County"),
            location: (58.4167, 15.6167),
            asn: Some((29518, "Bredband2 AB")),
        },
    ),
    (
        "81.2.69.",
        GeoRecord {
            city_name: Some("London"),
            continent_name: "Europe",
            country_iso_code: "GB",
            country_name: "United Kingdom",
            region_iso_code: Some("GB-ENG"),
            region_name: Some("England"),
            location: (51.5142, -0.0931),
            asn: None,
        },
    ),
    (
        "216.160.83.",
        GeoRecord {
            city_name: Some("Milton"),
            continent_name: "North America",
            country_iso_code: "US",
            country_name: "United States",
            region_iso_code: Some("US-WA"),
            region_name: Some("Washington"),
            location: (47.2513, -122.3149),
            asn: None,
        },
    ),
    (
        "175.16.199.",
        GeoRecord {
            city_name: Some("Changchun"),
            continent_name: "Asia",
            country_iso_code: "CN",
            country_name: "China",
            region_iso_code: Some("CN-22"),
            region_name: Some("Jilin Sheng"),
            location: (43.88, 125.3228),
            asn: None,
        },
    ),
    ("3.12", AWS_FRANKFURT),
    ("18.197.", AWS_FRANKFURT),
    ("52.59.", AWS_FRANKFURT),
];

/// The GeoIP record for an IP address, if the stand-in database knows it.
pub fn geo_lookup(ip: &str) -> Option<&'static GeoRecord> {
    GEO_TABLE
        .iter()
        .find(|(prefix, _)| ip.starts_with(prefix))
        .map(|(_, record)| record)
}

/// What Elasticsearch's `user_agent` processor extracts from a user agent string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedAgent {
    pub name: &'static str,
    pub version: Option<&'static str>,
    pub device: &'static str,
    /// (name, version, full)
    pub os: Option<(&'static str, &'static str, &'static str)>,
}

/// Known user agents and how the ingest pipeline parses them.
const AGENT_TABLE: &[(&str, ParsedAgent)] = &[
    (
        "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off",
        ParsedAgent {
            name: "aws-cli",
            version: Some("2.15.30"),
            device: "Spider",
            os: None,
        },
    ),
    (
        "aws-cli/2.15.30 Python/3.11.8 Linux/5.10.210 exe/x86_64.amzn.2 prompt/off",
        ParsedAgent {
            name: "aws-cli",
            version: Some("2.15.30"),
            device: "Spider",
            os: Some(("Linux", "5.10.210", "Linux 5.10.210")),
        },
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        ParsedAgent {
            name: "Chrome",
            version: Some("123.0.0.0"),
            device: "Other",
            os: Some(("Windows", "10", "Windows 10")),
        },
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:124.0) Gecko/20100101 Firefox/124.0",
        ParsedAgent {
            name: "Firefox",
            version: Some("124.0."),
            device: "Mac",
            os: Some(("Mac OS X", "10.15", "Mac OS X 10.15")),
        },
    ),
];

/// How the `user_agent` processor parses a string; unknown strings give `Other`.
pub fn parse_agent(original: &str) -> ParsedAgent {
    AGENT_TABLE
        .iter()
        .find(|(known, _)| *known == original)
        .map(|(_, parsed)| *parsed)
        .unwrap_or(ParsedAgent {
            name: "Other",
            version: None,
            device: "Other",
            os: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identities::HUMAN_AGENTS;

    #[test]
    fn documentation_ranges_have_no_geo_but_test_database_addresses_do() {
        assert!(geo_lookup("203.0.113.10").is_none());
        assert_eq!(
            geo_lookup("89.160.20.156").map(|g| g.country_iso_code),
            Some("SE")
        );
    }

    #[test]
    fn unknown_agents_parse_as_other() {
        assert_eq!(parse_agent("lambda.amazonaws.com").name, "Other");
        assert_eq!(parse_agent(HUMAN_AGENTS[0]).name, "Chrome");
    }
}
