//! The `rss` backend encoding: RSS (0.9x, 1.0/RDF, 2.0) and Atom feeds decoded into the map
//! KrakenD's krakend-rss builds from gofeed's universal feed:
//!
//! ```text
//! title, description, type ("rss" | "atom"), language, copyright, published, updated,
//! author ({name, email} | null), categories ([..] | null), custom (null), img_url (when the
//! feed has an image), items ([{title, description, content, link, links, updated,
//! updatedParsed, published, publishedParsed, author, authors, guid, image, categories,
//! enclosures}], empty fields left out)
//! ```
//!
//! Namespaced elements are recognised by their usual prefixes (`dc:`, `content:`, `itunes:`).
//! Item objects are written with their keys sorted, where Go writes gofeed's struct order.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One XML element.
#[derive(Debug, Default)]
struct Node {
    /// The qualified name as written (`dc:creator`).
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }
    fn prefix(&self) -> Option<&str> {
        self.name.split_once(':').map(|(p, _)| p)
    }
    /// An unprefixed child (the element's own vocabulary).
    fn child(&self, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|c| c.prefix().is_none() && c.local() == name)
    }
    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.prefix().is_none() && c.local() == name)
    }
    fn ext(&self, prefix: &str, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|c| c.prefix() == Some(prefix) && c.local() == name)
    }
    fn exts<'a>(&'a self, prefix: &'a str, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.prefix() == Some(prefix) && c.local() == name)
    }
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn text_of(&self, name: &str) -> String {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .unwrap_or_default()
    }
    fn ext_text(&self, prefix: &str, name: &str) -> String {
        self.ext(prefix, name)
            .map(|c| c.text.trim().to_string())
            .unwrap_or_default()
    }
}

fn parse(body: &[u8]) -> Result<Node> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| Error::malformed("rss", e))?;
        match event {
            Event::Start(e) | Event::Empty(e) if stack.len() > 128 => {
                let _ = e;
                return Err(Error::decode("rss: document too deeply nested"));
            }
            Event::Start(e) => stack.push(element(&e)?),
            Event::Empty(e) => {
                let node = element(&e)?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(node);
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| Error::malformed("rss", e))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err(Error::decode("rss: unexpected closing tag"));
                }
                if let Some(node) = stack.pop() {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(node);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if stack.len() != 1 {
        return Err(Error::decode("rss: unexpected end of document"));
    }
    stack
        .pop()
        .and_then(|doc| doc.children.into_iter().next())
        .ok_or_else(|| Error::decode("Failed to detect feed type"))
}

fn element(e: &quick_xml::events::BytesStart) -> Result<Node> {
    let mut node = Node {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        ..Node::default()
    };
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|e| Error::malformed("rss", e))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let val = a
            .unescape_value()
            .map_err(|e| Error::malformed("rss", e))?
            .into_owned();
        node.attrs.push((key, val));
    }
    Ok(node)
}

/// Decodes a feed.
pub fn decode(body: &[u8]) -> Result<Map<String, Value>> {
    let root = parse(body)?;
    let feed = match root.local() {
        "rss" | "RDF" => rss(&root),
        "feed" => atom(&root),
        _ => return Err(Error::decode("Failed to detect feed type")),
    };
    Ok(feed)
}

fn s(v: String) -> Value {
    Value::String(v)
}

fn put(m: &mut Map<String, Value>, k: &str, v: String) {
    if !v.is_empty() {
        m.insert(k.into(), Value::String(v));
    }
}

fn person(name: String, email: String) -> Option<Value> {
    if name.is_empty() && email.is_empty() {
        return None;
    }
    let mut m = Map::new();
    put(&mut m, "name", name);
    put(&mut m, "email", email);
    Some(Value::Object(m))
}

/// gofeed's `ParseNameAddress`: `email (Name)`, `Name <email>`, a bare address or a name.
fn name_address(v: &str) -> Option<Value> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if let (Some(open), Some(close)) = (v.find('('), v.rfind(')')) {
        if open < close {
            return person(v[open + 1..close].trim().into(), v[..open].trim().into());
        }
    }
    if let (Some(open), Some(close)) = (v.find('<'), v.rfind('>')) {
        if open < close {
            return person(v[..open].trim().into(), v[open + 1..close].trim().into());
        }
    }
    if v.contains('@') && !v.contains(' ') {
        return person(String::new(), v.into());
    }
    person(v.into(), String::new())
}

/// The feed-level fields krakend-rss keeps.
#[derive(Default)]
struct Feed {
    kind: &'static str,
    title: String,
    description: String,
    language: String,
    copyright: String,
    published: String,
    updated: String,
    author: Option<Value>,
    categories: Vec<String>,
    image: String,
    items: Vec<Value>,
}

impl Feed {
    fn into_map(self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("items".into(), Value::Array(self.items));
        m.insert("author".into(), self.author.unwrap_or(Value::Null));
        m.insert(
            "categories".into(),
            if self.categories.is_empty() {
                Value::Null
            } else {
                Value::Array(self.categories.into_iter().map(s).collect())
            },
        );
        m.insert("custom".into(), Value::Null);
        m.insert("copyright".into(), s(self.copyright));
        m.insert("description".into(), s(self.description));
        m.insert("type".into(), s(self.kind.into()));
        m.insert("language".into(), s(self.language));
        m.insert("title".into(), s(self.title));
        m.insert("published".into(), s(self.published));
        m.insert("updated".into(), s(self.updated));
        if !self.image.is_empty() {
            m.insert("img_url".into(), s(self.image));
        }
        m
    }
}

fn first_nonempty(values: impl IntoIterator<Item = String>) -> String {
    values
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

fn rss(root: &Node) -> Map<String, Value> {
    let channel = root.child("channel").unwrap_or(root);
    // RSS 1.0 keeps items and the image next to the channel
    let item_parent = if channel.child("item").is_some() {
        channel
    } else {
        root
    };
    let image_node = channel.child("image").or_else(|| root.child("image"));
    let image = first_nonempty([
        image_node.map(|i| i.text_of("url")).unwrap_or_default(),
        channel
            .ext("itunes", "image")
            .and_then(|i| i.attr("href"))
            .unwrap_or("")
            .to_string(),
    ]);
    let author = name_address(&channel.text_of("managingEditor"))
        .or_else(|| name_address(&channel.text_of("webMaster")))
        .or_else(|| name_address(&channel.ext_text("dc", "author")))
        .or_else(|| name_address(&channel.ext_text("dc", "creator")))
        .or_else(|| name_address(&channel.ext_text("itunes", "author")));
    let mut categories: Vec<String> = channel
        .children_named("category")
        .map(|c| c.text.trim().to_string())
        .collect();
    categories.extend(
        channel
            .exts("itunes", "category")
            .filter_map(|c| c.attr("text").map(str::to_string)),
    );
    categories.extend(
        channel
            .exts("dc", "subject")
            .map(|c| c.text.trim().to_string()),
    );
    let items = item_parent.children_named("item").map(rss_item).collect();
    Feed {
        kind: "rss",
        title: first_nonempty([channel.text_of("title"), channel.ext_text("dc", "title")]),
        description: first_nonempty([
            channel.text_of("description"),
            channel.ext_text("dc", "description"),
        ]),
        language: first_nonempty([
            channel.text_of("language"),
            channel.ext_text("dc", "language"),
        ]),
        copyright: first_nonempty([
            channel.text_of("copyright"),
            channel.ext_text("dc", "rights"),
        ]),
        published: first_nonempty([channel.text_of("pubDate"), channel.ext_text("dc", "date")]),
        updated: first_nonempty([
            channel.text_of("lastBuildDate"),
            channel.ext_text("dc", "date"),
        ]),
        author,
        categories,
        image,
        items,
    }
    .into_map()
}

fn rss_item(item: &Node) -> Value {
    let mut m = Map::new();
    put(
        &mut m,
        "title",
        first_nonempty([item.text_of("title"), item.ext_text("dc", "title")]),
    );
    put(
        &mut m,
        "description",
        first_nonempty([
            item.text_of("description"),
            item.ext_text("dc", "description"),
        ]),
    );
    put(&mut m, "content", item.ext_text("content", "encoded"));
    let link = item.text_of("link");
    if !link.is_empty() {
        m.insert("link".into(), s(link.clone()));
        m.insert("links".into(), Value::Array(vec![s(link)]));
    }
    let dc_date = item.ext_text("dc", "date");
    if !dc_date.is_empty() {
        m.insert("updated".into(), s(dc_date.clone()));
        if let Some(t) = parse_date(&dc_date) {
            m.insert("updatedParsed".into(), s(t));
        }
    }
    let published = first_nonempty([item.text_of("pubDate"), dc_date]);
    if !published.is_empty() {
        if let Some(t) = parse_date(&published) {
            m.insert("publishedParsed".into(), s(t));
        }
        m.insert("published".into(), s(published));
    }
    let author = name_address(&item.text_of("author"))
        .or_else(|| name_address(&item.ext_text("dc", "author")))
        .or_else(|| name_address(&item.ext_text("dc", "creator")))
        .or_else(|| name_address(&item.ext_text("itunes", "author")));
    if let Some(a) = author {
        m.insert("author".into(), a.clone());
        m.insert("authors".into(), Value::Array(vec![a]));
    }
    put(&mut m, "guid", item.text_of("guid"));
    if let Some(href) = item.ext("itunes", "image").and_then(|i| i.attr("href")) {
        let mut img = Map::new();
        put(&mut img, "url", href.to_string());
        m.insert("image".into(), Value::Object(img));
    }
    let mut categories: Vec<Value> = item
        .children_named("category")
        .map(|c| s(c.text.trim().to_string()))
        .collect();
    categories.extend(
        item.exts("dc", "subject")
            .map(|c| s(c.text.trim().to_string())),
    );
    if !categories.is_empty() {
        m.insert("categories".into(), Value::Array(categories));
    }
    let enclosures: Vec<Value> = item
        .children_named("enclosure")
        .map(|e| {
            let mut en = Map::new();
            for k in ["url", "length", "type"] {
                put(&mut en, k, e.attr(k).unwrap_or("").to_string());
            }
            Value::Object(en)
        })
        .collect();
    if !enclosures.is_empty() {
        m.insert("enclosures".into(), Value::Array(enclosures));
    }
    Value::Object(m)
}

fn atom_person(n: &Node) -> Option<Value> {
    person(n.text_of("name"), n.text_of("email"))
}

/// Atom text constructs: the text, or the markup of `type="xhtml"` content as text.
fn atom_text(n: Option<&Node>) -> String {
    n.map(|n| n.text.trim().to_string()).unwrap_or_default()
}

fn atom(feed: &Node) -> Map<String, Value> {
    let author = feed.children_named("author").find_map(atom_person);
    let categories = feed
        .children_named("category")
        .filter_map(|c| {
            c.attr("term")
                .or_else(|| c.attr("label"))
                .map(str::to_string)
        })
        .collect();
    let items = feed.children_named("entry").map(atom_entry).collect();
    Feed {
        kind: "atom",
        title: atom_text(feed.child("title")),
        description: atom_text(feed.child("subtitle")),
        language: feed.attr("xml:lang").unwrap_or("").to_string(),
        copyright: atom_text(feed.child("rights")),
        published: String::new(),
        updated: feed.text_of("updated"),
        author,
        categories,
        image: first_nonempty([feed.text_of("logo"), feed.text_of("icon")]),
        items,
    }
    .into_map()
}

fn atom_entry(entry: &Node) -> Value {
    let mut m = Map::new();
    put(&mut m, "title", atom_text(entry.child("title")));
    put(&mut m, "description", atom_text(entry.child("summary")));
    put(&mut m, "content", atom_text(entry.child("content")));
    let links: Vec<&Node> = entry.children_named("link").collect();
    let link = links
        .iter()
        .find(|l| matches!(l.attr("rel"), None | Some("") | Some("alternate")))
        .and_then(|l| l.attr("href"))
        .unwrap_or("");
    put(&mut m, "link", link.to_string());
    let hrefs: Vec<Value> = links
        .iter()
        .filter_map(|l| l.attr("href"))
        .map(|h| s(h.to_string()))
        .collect();
    if !hrefs.is_empty() {
        m.insert("links".into(), Value::Array(hrefs));
    }
    for (key, parsed, field) in [
        ("updated", "updatedParsed", "updated"),
        ("published", "publishedParsed", "published"),
    ] {
        let v = entry.text_of(field);
        if !v.is_empty() {
            if let Some(t) = parse_date(&v) {
                m.insert(parsed.into(), s(t));
            }
            m.insert(key.into(), s(v));
        }
    }
    let authors: Vec<Value> = entry
        .children_named("author")
        .filter_map(atom_person)
        .collect();
    if let Some(a) = authors.first() {
        m.insert("author".into(), a.clone());
        m.insert("authors".into(), Value::Array(authors));
    }
    put(&mut m, "guid", entry.text_of("id"));
    let categories: Vec<Value> = entry
        .children_named("category")
        .filter_map(|c| c.attr("term").or_else(|| c.attr("label")))
        .map(|t| s(t.to_string()))
        .collect();
    if !categories.is_empty() {
        m.insert("categories".into(), Value::Array(categories));
    }
    let enclosures: Vec<Value> = links
        .iter()
        .filter(|l| l.attr("rel") == Some("enclosure"))
        .map(|l| {
            let mut en = Map::new();
            put(&mut en, "url", l.attr("href").unwrap_or("").to_string());
            put(
                &mut en,
                "length",
                l.attr("length").unwrap_or("").to_string(),
            );
            put(&mut en, "type", l.attr("type").unwrap_or("").to_string());
            Value::Object(en)
        })
        .collect();
    if !enclosures.is_empty() {
        m.insert("enclosures".into(), Value::Array(enclosures));
    }
    Value::Object(m)
}

/// Parses an RFC 822/1123 or RFC 3339 date; returns it as Go writes a `time.Time` in JSON.
pub fn parse_date(v: &str) -> Option<String> {
    let v = v.trim();
    rfc3339(v).or_else(|| rfc822(v))
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn format_go(
    (y, mo, d): (i64, i64, i64),
    (h, mi, sec): (i64, i64, i64),
    frac: &str,
    offset_min: i64,
) -> Option<String> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}");
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if offset_min == 0 {
        out.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        let a = offset_min.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", a / 60, a % 60));
    }
    Some(out)
}

fn rfc3339(v: &str) -> Option<String> {
    let (date, rest) = v.split_once(['T', 't', ' '])?;
    let mut dp = date.split('-');
    let (y, mo, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() {
        return None;
    }
    let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        (&rest[..i], zone_offset(&rest[i..])?)
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut tp = hms.split(':');
    let (h, mi, sec) = (num(tp.next()?)?, num(tp.next()?)?, num(tp.next()?)?);
    format_go((y, mo, d), (h, mi, sec), frac, offset)
}

/// `+hhmm`, `+hh:mm` or a zone abbreviation, in minutes east of UTC.
fn zone_offset(z: &str) -> Option<i64> {
    let named = match z.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => Some(0),
        "EST" => Some(-300),
        "EDT" => Some(-240),
        "CST" => Some(-360),
        "CDT" => Some(-300),
        "MST" => Some(-420),
        "MDT" => Some(-360),
        "PST" => Some(-480),
        "PDT" => Some(-420),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    let h = num(&digits[..2])?;
    let m = num(&digits[2..])?;
    Some(sign * (h * 60 + m))
}

fn rfc822(v: &str) -> Option<String> {
    let v = match v.split_once(',') {
        Some((_, rest)) => rest,
        None => v,
    };
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() < 4 {
        return None;
    }
    let d = num(parts[0])?;
    let mo = match parts[1].get(..3)?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let mut y = num(parts[2])?;
    if parts[2].len() == 2 {
        y += if y >= 69 { 1900 } else { 2000 };
    }
    let mut tp = parts[3].split(':');
    let h = num(tp.next()?)?;
    let mi = num(tp.next()?)?;
    let sec = tp.next().map(num).unwrap_or(Some(0))?;
    let offset = match parts.get(4) {
        Some(z) => zone_offset(z)?,
        None => 0,
    };
    format_go((y, mo, d), (h, mi, sec), "", offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::json;

    #[test]
    fn decodes_rss_like_krakend() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
<title>showRSS schedule feed</title>
<link>http://showrss.info/</link>
<description>schedule</description>
<language>en</language>
<image><url>http://img/x.png</url></image>
<item><title>Example item</title><link>http://showrss.info/item/1</link><guid>item-1</guid>
<pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate><dc:creator>Ann</dc:creator>
<enclosure url="http://e/1.mp3" length="10" type="audio/mpeg"/></item>
</channel>
</rss>"#;
        let m = decode(body).unwrap();
        assert_eq!(
            String::from_utf8(json::map_to_vec(&m)).unwrap(),
            r#"{"author":null,"categories":null,"copyright":"","custom":null,"description":"schedule","img_url":"http://img/x.png","items":[{"author":{"name":"Ann"},"authors":[{"name":"Ann"}],"enclosures":[{"length":"10","type":"audio/mpeg","url":"http://e/1.mp3"}],"guid":"item-1","link":"http://showrss.info/item/1","links":["http://showrss.info/item/1"],"published":"Mon, 02 Jan 2006 15:04:05 GMT","publishedParsed":"2006-01-02T15:04:05Z","title":"Example item"}],"language":"en","published":"","title":"showRSS schedule feed","type":"rss","updated":""}"#
        );
    }

    #[test]
    fn decodes_atom() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Example Feed</title>
  <subtitle>sub</subtitle>
  <updated>2003-12-13T18:30:02Z</updated>
  <author><name>John Doe</name></author>
  <entry>
    <title>Atom-Powered Robots Run Amok</title>
    <link href="http://example.org/2003/12/13/atom03"/>
    <id>urn:uuid:1225c695</id>
    <updated>2003-12-13T18:30:02.50+01:00</updated>
    <summary>Some text.</summary>
  </entry>
</feed>"#;
        let m = decode(body).unwrap();
        assert_eq!(m["type"], "atom");
        assert_eq!(m["title"], "Example Feed");
        assert_eq!(m["description"], "sub");
        assert_eq!(m["language"], "en");
        assert_eq!(m["author"]["name"], "John Doe");
        let item = &m["items"][0];
        assert_eq!(item["title"], "Atom-Powered Robots Run Amok");
        assert_eq!(item["link"], "http://example.org/2003/12/13/atom03");
        assert_eq!(item["guid"], "urn:uuid:1225c695");
        assert_eq!(item["description"], "Some text.");
        assert_eq!(item["updatedParsed"], "2003-12-13T18:30:02.5+01:00");
    }

    #[test]
    fn rejects_what_is_not_a_feed() {
        assert_eq!(
            decode(b"<html><body/></html>").unwrap_err().to_string(),
            "Failed to detect feed type"
        );
        assert!(decode(b"not xml at all <").is_err());
        assert!(decode(b"").is_err());
    }

    #[test]
    fn parses_feed_dates() {
        assert_eq!(
            parse_date("Tue, 10 Jun 2003 04:00:00 -0500").as_deref(),
            Some("2003-06-10T04:00:00-05:00")
        );
        assert_eq!(
            parse_date("10 Jun 03 04:00 EST").as_deref(),
            Some("2003-06-10T04:00:00-05:00")
        );
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn author_forms() {
        assert_eq!(
            name_address("joe@x.org (Joe)").unwrap().to_string(),
            r#"{"email":"joe@x.org","name":"Joe"}"#
        );
        assert_eq!(
            name_address("Joe <joe@x.org>").unwrap().to_string(),
            r#"{"email":"joe@x.org","name":"Joe"}"#
        );
    }
}
