//! The demo merchant and shop that `make run` shows a newcomer. Idempotent: running it again
//! changes nothing.

use sqlx::PgPool;
use uuid::Uuid;

pub const DEMO_EMAIL: &str = "demo@bizmaat.local";
pub const DEMO_PASSWORD: &str = "demo-shop-2026";
pub const DEMO_SHOP_NAME: &str = "Lagos Looms";

pub async fn seed_demo(pool: &PgPool) -> anyhow::Result<()> {
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from merchants where lower(email) = $1)")
            .bind(DEMO_EMAIL)
            .fetch_one(pool)
            .await?;
    if exists {
        tracing::info!("demo shop already present");
    } else {
        let hash = app::auth::ssr::hash_password(DEMO_PASSWORD.to_string().into())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut tx = pool.begin().await?;
        let merchant_id = Uuid::now_v7();
        sqlx::query(
            "insert into merchants (id, full_name, email, password_hash, adult_confirmed_at, policy_version, policy_accepted_at)
             values ($1, 'Demo Merchant', $2, $3, now(), $4, now())",
        )
        .bind(merchant_id)
        .bind(DEMO_EMAIL)
        .bind(hash)
        .bind(app::policy::PRIVACY_POLICY_VERSION)
        .execute(&mut *tx)
        .await?;
        let shop_id = app::shop::ssr::create_shop(&mut tx, merchant_id, DEMO_SHOP_NAME)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // A shop in Lagos selling in naira, as the signup form would have set it.
        sqlx::query("update shops set time_zone = 'Africa/Lagos' where id = $1")
            .bind(shop_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!("demo shop created");
    }
    println!("\n  Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}\n");
    Ok(())
}

/// (category, title, price in naira, compare-at, stock: None = not tracked)
type DemoProduct = (&'static str, &'static str, i64, Option<i64>, Option<i32>);

const DEMO_PRODUCTS: &[DemoProduct] = &[
    ("Adire", "Indigo Adire Scarf", 12_500, Some(15_000), Some(8)),
    ("Adire", "Adire Wrapper, Sky Pattern", 18_000, None, Some(5)),
    ("Adire", "Adire Table Runner", 9_500, None, None),
    (
        "Adire",
        "Tie-Dye Cushion Cover",
        6_500,
        Some(8_000),
        Some(12),
    ),
    ("Adire", "Adire Head Wrap", 5_000, None, Some(0)),
    ("Adire", "Batik Throw Blanket", 32_000, None, Some(2)),
    ("Aso Oke", "Aso Oke Gele, Gold", 25_000, None, Some(6)),
    ("Aso Oke", "Aso Oke Fila Cap", 7_500, None, None),
    (
        "Aso Oke",
        "Aso Oke Ipele Shawl",
        14_000,
        Some(16_500),
        Some(4),
    ),
    ("Aso Oke", "Wedding Aso Oke Set", 85_000, None, Some(1)),
    ("Aso Oke", "Aso Oke Clutch Purse", 11_000, None, Some(9)),
    ("Aso Oke", "Aso Oke Bow Tie", 4_500, None, None),
    ("Ankara", "Ankara Tote Bag", 8_500, None, Some(15)),
    ("Ankara", "Ankara Bucket Hat", 6_000, Some(7_000), Some(10)),
    ("Ankara", "Ankara Face Cap", 4_000, None, None),
    ("Ankara", "Ankara Apron", 5_500, None, Some(7)),
    ("Ankara", "Ankara Laptop Sleeve", 9_000, None, Some(3)),
    ("Ankara", "Ankara Fabric, 6 Yards", 16_000, None, None),
    ("Home", "Woven Raffia Basket", 13_500, None, Some(5)),
    ("Home", "Calabash Bowl Set", 10_000, Some(12_000), Some(4)),
    ("Home", "Beaded Coaster Set", 5_500, None, Some(20)),
    ("Home", "Hand-Carved Wooden Spoon", 3_000, None, None),
    ("Home", "Kente Print Napkins (4)", 7_000, None, Some(8)),
    ("Home", "Clay Incense Holder", 4_200, None, Some(0)),
];

/// Fills the demo shop with categories, products and generated images, once: a shop that
/// already has products is left alone.
pub async fn seed_demo_catalog(state: &app::state::AppState) -> anyhow::Result<()> {
    let shop_id: Uuid = sqlx::query_scalar(
        "select s.id from shops s join merchants m on m.id = s.merchant_id where lower(m.email) = $1 order by s.created_at limit 1",
    )
    .bind(DEMO_EMAIL)
    .fetch_one(&state.pool)
    .await?;
    let has_products: bool =
        sqlx::query_scalar("select exists(select 1 from products where shop_id = $1)")
            .bind(shop_id)
            .fetch_one(&state.pool)
            .await?;
    if has_products {
        return Ok(());
    }
    let err = |e: app::error::AppError| anyhow::anyhow!("{e}");
    sqlx::query(
        "update shops set description = $2, whatsapp_number = '+2348012345678', currency = 'NGN' where id = $1",
    )
    .bind(shop_id)
    .bind("Hand-dyed adire, woven aso oke and Ankara pieces from Lagos. Order here and we confirm on WhatsApp.")
    .execute(&state.pool)
    .await?;
    let mut categories = std::collections::HashMap::new();
    for (i, (category, title, price, compare_at, stock)) in DEMO_PRODUCTS.iter().enumerate() {
        let category_id = match categories.get(category) {
            Some(id) => *id,
            None => {
                let id = app::catalog::ssr::create_category(state, shop_id, category)
                    .await
                    .map_err(err)?;
                categories.insert(*category, id);
                id
            }
        };
        let input = app::catalog::ssr::ProductInput {
            title: title.to_string(),
            description: format!(
                "{title}, made by hand in Lagos.\nEach piece is a little different.\n\nAsk us on WhatsApp for sizes and colours."
            ),
            price: price.to_string(),
            compare_at_price: compare_at.map(|c| c.to_string()).unwrap_or_default(),
            sku: format!("DEMO-{:03}", i + 1),
            track_stock: stock.is_some(),
            stock: stock.unwrap_or(0).to_string(),
            status: "active".into(),
            categories: vec![category_id],
            ..Default::default()
        };
        let product_id = app::catalog::ssr::save_product(state, shop_id, None, input)
            .await
            .map_err(err)?;
        if state.media.local_dir().is_some() {
            let stored = state
                .media
                .store_local(shop_id, demo_image(i))
                .await
                .map_err(err)?;
            app::media::images::insert_image(state, shop_id, Some(product_id), &stored, title)
                .await
                .map_err(err)?;
        }
    }
    seed_demo_kaftan(state, shop_id, categories["Adire"])
        .await
        .map_err(err)?;
    tracing::info!(products = DEMO_PRODUCTS.len() + 1, "demo catalog created");
    Ok(())
}

/// A product sold in sizes and colours, so the demo shows the variant picker: Size S, M, L ×
/// Colour Indigo, Rust; L costs more, Indigo / S is sold out and Rust / L is not made.
async fn seed_demo_kaftan(
    state: &app::state::AppState,
    shop_id: Uuid,
    category: Uuid,
) -> app::error::AppResult<()> {
    use app::catalog::ssr::variants::{BulkInput, OptionInput, VariantInput};
    let input = app::catalog::ssr::ProductInput {
        title: "Adire Kaftan".into(),
        description: "A loose kaftan in hand-dyed adire cotton.\nChoose your size and colour."
            .into(),
        price: "22000".into(),
        sku: "DEMO-KAFTAN".into(),
        track_stock: true,
        stock: "4".into(),
        status: "active".into(),
        categories: vec![category],
        ..Default::default()
    };
    let id = app::catalog::ssr::save_product(state, shop_id, None, input).await?;
    let options = [
        OptionInput {
            name: "Size".into(),
            values: "S, M, L".into(),
        },
        OptionInput {
            name: "Colour".into(),
            values: "Indigo, Rust".into(),
        },
    ];
    app::catalog::ssr::variants::set_options(state, shop_id, id, &options).await?;
    let variants: Vec<(Uuid, Vec<String>)> = sqlx::query_as(
        "select id, options from product_variants where product_id = $1 order by position",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let rows: Vec<VariantInput> = variants
        .into_iter()
        .enumerate()
        .map(|(i, (vid, values))| {
            let large = values[0] == "L";
            VariantInput {
                id: vid,
                sku: format!("DEMO-KAFTAN-{}-{}", values[0], values[1].to_uppercase()),
                price: if large { "24000" } else { "22000" }.into(),
                compare_at_price: String::new(),
                track_stock: true,
                stock: if values == ["S", "Indigo"] { "0" } else { "4" }.into(),
                enabled: !(large && values[1] == "Rust"),
                image_id: None,
                position: (i + 1).to_string(),
            }
        })
        .collect();
    app::catalog::ssr::variants::save_variants(state, shop_id, id, &rows, &BulkInput::default())
        .await?;
    if state.media.local_dir().is_some() {
        let stored = state
            .media
            .store_local(shop_id, demo_image(DEMO_PRODUCTS.len()))
            .await?;
        app::media::images::insert_image(state, shop_id, Some(id), &stored, "Adire Kaftan").await?;
    }
    Ok(())
}

/// A generated, license-free product picture: diagonal bands in a palette per product, so
/// the demo grid looks like fabric swatches rather than grey boxes.
fn demo_image(seed: usize) -> Vec<u8> {
    const PALETTES: &[[[u8; 3]; 3]] = &[
        [[22, 48, 112], [58, 97, 178], [214, 226, 245]],
        [[150, 60, 20], [226, 150, 40], [250, 228, 180]],
        [[20, 90, 60], [70, 160, 110], [220, 240, 225]],
        [[120, 20, 60], [200, 70, 110], [250, 220, 230]],
        [[60, 40, 20], [150, 110, 70], [235, 220, 200]],
        [[30, 30, 30], [200, 160, 40], [245, 240, 225]],
    ];
    let palette = PALETTES[seed % PALETTES.len()];
    let band = 24 + (seed % 5) as u32 * 8;
    let img = image::RgbImage::from_fn(640, 640, |x, y| {
        let stripe = ((x + y * (1 + seed as u32 % 3)) / band) as usize % 3;
        let dot = ((x / 40 + y / 40) % 7 == (seed % 7) as u32) && (x % 40 < 14) && (y % 40 < 14);
        image::Rgb(if dot { palette[2] } else { palette[stripe] })
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encoding a PNG in memory");
    out.into_inner()
}

/// Connects the demo shop to the WhatsApp simulator and lets a few simulated customers write,
/// so the inbox has something to show. Runs once the server is listening (the simulator's
/// Graph API and our webhook are HTTP endpoints of this very server). Idempotent: a demo shop
/// that already has a number is left alone.
pub async fn seed_demo_whatsapp(state: &app::state::AppState) -> anyhow::Result<()> {
    let Some(sim) = state.whatsapp.simulator.clone() else {
        return Ok(());
    };
    let shop_id: Option<Uuid> = sqlx::query_scalar(
        "select s.id from shops s join merchants m on m.id = s.merchant_id
         where lower(m.email) = $1 and not exists (select 1 from wa_accounts a where a.shop_id = s.id)",
    )
    .bind(DEMO_EMAIL)
    .fetch_optional(&state.pool)
    .await?;
    let Some(shop_id) = shop_id else {
        return Ok(());
    };
    let (code, number) = sim.start_signup(false);
    app::whatsapp::ssr::finish_embedded_signup(
        state,
        shop_id,
        app::whatsapp::SignupResult {
            code,
            event: "FINISH".into(),
            waba_id: number.waba_id.clone(),
            phone_number_id: Some(number.id.clone()),
            business_id: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("connecting the demo shop to the simulator: {e}"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let customers = [
        (
            "2348031110001",
            "Amaka Obi",
            "Hello! Is the Indigo Adire Scarf still available?",
        ),
        (
            "2348031110002",
            "Tunde Bakare",
            "Do you deliver to Abuja? How long does it take?",
        ),
        (
            "2348031110003",
            "Chioma Eze",
            "Good evening. Can I pay on delivery?",
        ),
    ];
    for (i, (wa_id, name, text)) in customers.iter().enumerate() {
        let message = serde_json::json!({
            "from": wa_id, "id": sim.new_wamid(), "timestamp": (now - 3600 * (3 - i as i64)).to_string(),
            "type": "text", "text": {"body": text}
        });
        let body = app::whatsapp::simulator::Simulator::envelope(
            &number,
            serde_json::json!({"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}),
        );
        let status = sim.deliver(&body).await.map_err(|e| anyhow::anyhow!(e))?;
        anyhow::ensure!(status == 200, "the simulator's webhook got HTTP {status}");
    }
    tracing::info!("demo shop connected to the WhatsApp simulator with three conversations");
    Ok(())
}
