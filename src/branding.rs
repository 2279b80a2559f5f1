//! Vendor branding (issue 17 item 1): the rules for what may be configured, and the branding a hosted page shows.
//!
//! * Logo: PNG or JPEG, recognised by its magic bytes (never by the file name), at most [`MAX_LOGO`] bytes. SVG is
//!   refused: an SVG document can carry script and external references, and keyway would have to sanitise it;
//!   a raster logo has no such risk. The logo is served at a URL named by its SHA-256, so it can be cached for a
//!   year (`immutable`): a new logo gets a new URL.
//! * Primary colour: `#rrggbb`. The text colour on it is either given (then it must reach 4.5:1, WCAG 2.2 SC
//!   1.4.3) or picked (white or near-black, whichever contrasts more: one of them always reaches 4.5:1).
//! * Support and privacy links: absolute http(s) URLs.
//!
//! A product's branding falls back field by field to its organization's default.
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::crypto::secrets::hex;
use crate::store::branding::BrandingRecord;
use crate::store::{Store, StoreError};

pub const MAX_LOGO: usize = 256 * 1024;
/// WCAG 2.2 SC 1.4.3 (normal text, level AA).
pub const MIN_TEXT_CONTRAST: f64 = 4.5;
/// The two text colours offered on a brand colour. Black rather than a softer dark grey: with white and black,
/// one of the two always reaches 4.5:1 (the worst case, a mid grey, still has 4.58:1).
const LIGHT_TEXT: Colour = Colour([0xff, 0xff, 0xff]);
const DARK_TEXT: Colour = Colour([0x00, 0x00, 0x00]);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BrandingError {
    #[error("the logo is {0} bytes; at most {MAX_LOGO} bytes are allowed")]
    LogoTooLarge(usize),
    #[error("SVG logos are refused (they can carry script); use a PNG or JPEG")]
    LogoSvg,
    #[error("the logo is not a PNG or JPEG image")]
    LogoType,
    #[error("`{0}` is not a colour of the form #rrggbb")]
    Colour(String),
    #[error("text colour {text} on {primary} has a contrast of {ratio:.2}:1; at least 4.5:1 is required")]
    Contrast { primary: String, text: String, ratio: f64 },
    #[error("`{0}` is not an absolute http(s) URL")]
    Url(String),
    #[error("the display name must have 1 to 100 characters")]
    Name,
}

/// A checked logo image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

impl Logo {
    /// Checks size and type by content (magic bytes: PNG's 8-byte signature, JPEG's SOI marker + a segment).
    pub fn parse(bytes: Vec<u8>) -> Result<Logo, BrandingError> {
        if bytes.len() > MAX_LOGO {
            return Err(BrandingError::LogoTooLarge(bytes.len()));
        }
        let media_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "image/jpeg"
        } else if looks_like_svg(&bytes) {
            return Err(BrandingError::LogoSvg);
        } else {
            return Err(BrandingError::LogoType);
        };
        Ok(Logo { media_type, bytes })
    }

    /// The content hash that names the logo's URL.
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(&self.bytes))
    }

    pub fn extension(media_type: &str) -> &'static str {
        if media_type == "image/png" {
            "png"
        } else {
            "jpg"
        }
    }
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    head.contains("<svg") || head.trim_start().starts_with("<?xml")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour(pub [u8; 3]);

impl Colour {
    pub fn parse(s: &str) -> Result<Colour, BrandingError> {
        let bad = || BrandingError::Colour(s.to_string());
        let h = s.trim().strip_prefix('#').ok_or_else(bad)?;
        if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| bad());
        Ok(Colour([byte(0)?, byte(2)?, byte(4)?]))
    }

    pub fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }

    /// Relative luminance (WCAG 2.2, "relative luminance" definition).
    fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.0[0]) + 0.7152 * lin(self.0[1]) + 0.0722 * lin(self.0[2])
    }

    /// Contrast ratio (WCAG 2.2, "contrast ratio" definition): (L1 + 0.05) / (L2 + 0.05).
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }
}

/// The text colour for buttons in `primary`: `requested` when it reaches 4.5:1 (else an error), or the better of
/// white and black.
pub fn text_colour(primary: Colour, requested: Option<Colour>) -> Result<(Colour, f64), BrandingError> {
    match requested {
        Some(t) => {
            let ratio = primary.contrast(t);
            if ratio < MIN_TEXT_CONTRAST {
                return Err(BrandingError::Contrast { primary: primary.css(), text: t.css(), ratio });
            }
            Ok((t, ratio))
        }
        None => {
            let (l, d) = (primary.contrast(LIGHT_TEXT), primary.contrast(DARK_TEXT));
            Ok(if l >= d { (LIGHT_TEXT, l) } else { (DARK_TEXT, d) })
        }
    }
}

pub fn check_url(s: &str) -> Result<String, BrandingError> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(u.to_string()),
        _ => Err(BrandingError::Url(s.to_string())),
    }
}

pub fn check_name(s: &str) -> Result<String, BrandingError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 {
        return Err(BrandingError::Name);
    }
    Ok(s.to_string())
}

/// The branding a hosted page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Brand {
    pub name: Option<String>,
    pub logo_url: Option<String>,
    /// The stylesheet with the brand colours, `/branding/theme/<primary>-<text>.css` (its URL is its content).
    pub css_url: Option<String>,
    pub support_url: Option<String>,
    pub privacy_url: Option<String>,
}

impl Brand {
    fn from_records(product: Option<BrandingRecord>, org: Option<BrandingRecord>) -> Brand {
        let (p, o) = (product.unwrap_or_default(), org.unwrap_or_default());
        let (logo_hash, logo_type) = match p.logo_hash {
            Some(h) => (Some(h), p.logo_type),
            None => (o.logo_hash, o.logo_type),
        };
        let colours = match p.primary_color {
            Some(c) => Some(c).zip(p.on_primary_color),
            None => o.primary_color.zip(o.on_primary_color),
        };
        Brand {
            name: p.display_name.or(o.display_name),
            logo_url: logo_hash
                .map(|h| format!("/branding/logo/{h}.{}", Logo::extension(logo_type.as_deref().unwrap_or("")))),
            css_url: colours.map(|(c, t)| {
                format!("/branding/theme/{}-{}.css", c.trim_start_matches('#'), t.trim_start_matches('#'))
            }),
            support_url: p.support_url.or(o.support_url),
            privacy_url: p.privacy_url.or(o.privacy_url),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Brand::default()
    }
}

/// The branding of a product (its own, falling back to its organization's default), or of the organization alone
/// (`product_id` None).
pub async fn resolve(store: &Store, organization_id: &str, product_id: Option<&str>) -> Result<Brand, StoreError> {
    let product = match product_id {
        Some(p) => store.find_branding(organization_id, p).await?,
        None => None,
    };
    let org = store.find_branding(organization_id, "").await?;
    Ok(Brand::from_records(product, org))
}

/// The stylesheet of `/branding/theme/<primary>-<text>.css`, or None when the name is not two colours with enough
/// contrast (the URL is input; a page only ever links to checked pairs).
pub fn theme_css(name: &str) -> Option<String> {
    let (p, t) = name.strip_suffix(".css")?.split_once('-')?;
    let primary = Colour::parse(&format!("#{p}")).ok()?;
    let text = Colour::parse(&format!("#{t}")).ok()?;
    text_colour(primary, Some(text)).ok()?;
    let (p, t) = (primary.css(), text.css());
    // Only the primary buttons and the brand bar take the colour: links and the focus ring keep the theme's
    // accent, whose contrast against the page is checked for both themes (tests/browser/contrast.py).
    Some(format!(
        ":root {{ --brand: {p}; --on-brand: {t}; }}\n\
         button:not(.secondary):not(.link), a.button {{ background: {p}; border-color: {p}; color: {t}; }}\n\
         button:not(.secondary):not(.link):hover, a.button:hover {{ background: {p}; border-color: {t}; \
         color: {t}; text-decoration: underline; }}\n\
         .brand-bar {{ background: {p}; }}\n"
    ))
}

/// A logo's bytes from its stored base64.
pub fn decode_logo(data: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(data).ok()
}

pub fn encode_logo(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logos_are_checked_by_content_and_size() {
        assert_eq!(Logo::parse(b"\x89PNG\r\n\x1a\n....".to_vec()).unwrap().media_type, "image/png");
        assert_eq!(Logo::parse(vec![0xff, 0xd8, 0xff, 0xe0, 0, 0]).unwrap().media_type, "image/jpeg");
        assert_eq!(Logo::parse(b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()), Err(BrandingError::LogoSvg));
        assert_eq!(Logo::parse(b"GIF89a....".to_vec()), Err(BrandingError::LogoType));
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_LOGO + 1, 0);
        assert_eq!(Logo::parse(big), Err(BrandingError::LogoTooLarge(MAX_LOGO + 1)));
    }

    #[test]
    fn contrast_matches_wcag_examples() {
        let white = Colour::parse("#ffffff").unwrap();
        let black = Colour::parse("#000000").unwrap();
        assert!((white.contrast(black) - 21.0).abs() < 1e-9);
        // The dark-theme button: white on #6cb0ff is about 2.3:1.
        let r = Colour::parse("#6cb0ff").unwrap().contrast(white);
        assert!((2.2..2.4).contains(&r), "{r}");
        assert!(matches!(
            text_colour(Colour::parse("#6cb0ff").unwrap(), Some(white)),
            Err(BrandingError::Contrast { .. })
        ));
        let (t, ratio) = text_colour(Colour::parse("#6cb0ff").unwrap(), None).unwrap();
        assert_eq!(t, DARK_TEXT);
        assert!(ratio >= MIN_TEXT_CONTRAST);
        let (t, _) = text_colour(Colour::parse("#0b5cad").unwrap(), None).unwrap();
        assert_eq!(t, LIGHT_TEXT);
    }

    #[test]
    fn theme_css_only_for_checked_pairs() {
        assert!(theme_css("0b5cad-ffffff.css").unwrap().contains("--brand: #0b5cad"));
        assert_eq!(theme_css("6cb0ff-ffffff.css"), None, "too little contrast");
        assert_eq!(theme_css("red-white.css"), None);
        assert_eq!(theme_css("0b5cad-ffffff.css;x"), None);
    }
}
