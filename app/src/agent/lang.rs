//! The customer's language and the agent's fixed texts in it. Detected per message, so a
//! customer who switches language is answered in the new one; English when unsure.

/// The languages the fixed texts exist in.
pub const LANGUAGES: [&str; 4] = ["en", "es", "pt", "fr"];

/// The language of `text`, or `None` when the text is too short or unclear to tell (then the
/// conversation keeps the language it had).
pub fn detect(text: &str) -> Option<&'static str> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    // Greetings and short requests are too short for statistics; these words say it alone.
    for w in &words {
        let hit = match w.as_str() {
            "hola" | "gracias" | "quiero" | "busco" | "tienen" | "tienes" | "cuánto" | "cuanto"
            | "buenos" | "buenas" => Some("es"),
            "olá" | "oi" | "obrigado" | "obrigada" | "quero" | "vocês" | "voces" | "bom"
            | "boa" => Some("pt"),
            "bonjour" | "salut" | "merci" | "bonsoir" | "voudrais" | "cherche" => Some("fr"),
            "hello" | "hi" | "hey" | "thanks" | "please" | "want" => Some("en"),
            _ => None,
        };
        if hit.is_some() {
            return hit;
        }
    }
    if words.len() < 3 {
        return None;
    }
    let info = whatlang::Detector::with_allowlist(vec![
        whatlang::Lang::Eng,
        whatlang::Lang::Spa,
        whatlang::Lang::Por,
        whatlang::Lang::Fra,
    ])
    .detect(text)?;
    if info.confidence() < 0.3 {
        return None;
    }
    Some(match info.lang() {
        whatlang::Lang::Spa => "es",
        whatlang::Lang::Por => "pt",
        whatlang::Lang::Fra => "fr",
        _ => "en",
    })
}

/// Every fixed text the agent sends, in one language.
pub struct Texts {
    pub disclosure: &'static str,
    pub greeting: &'static str,
    pub browse: &'static str,
    pub my_order: &'static str,
    pub person: &'static str,
    pub products_button: &'static str,
    pub here_are: &'static str,
    pub found: &'static str,
    pub nothing_found: &'static str,
    pub no_products: &'static str,
    pub choose_option: &'static str,
    pub options_button: &'static str,
    pub order_button: &'static str,
    pub in_stock: &'static str,
    pub sold_out: &'static str,
    pub sold_out_choose_other: &'static str,
    pub how_many: &'static str,
    pub bad_quantity: &'static str,
    pub only_left: &'static str,
    pub your_name: &'static str,
    pub bad_name: &'static str,
    pub your_address: &'static str,
    pub bad_address: &'static str,
    pub summary: &'static str,
    pub total: &'static str,
    pub deliver_to: &'static str,
    pub confirm: &'static str,
    pub cancel: &'static str,
    pub confirmed: &'static str,
    pub cancelled: &'static str,
    pub order_failed: &'static str,
    pub no_orders: &'static str,
    pub your_orders: &'static str,
    pub handover: &'static str,
    pub statuses: [(&'static str, &'static str); 5],
}

pub fn texts(lang: &str) -> &'static Texts {
    match lang {
        "es" => &ES,
        "pt" => &PT,
        "fr" => &FR,
        _ => &EN,
    }
}

/// The status of an order in words.
pub fn status_word(t: &Texts, status: &str) -> &'static str {
    t.statuses
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("", |(_, w)| *w)
}

/// Words a customer uses to ask for a person, in the supported languages. Matched as whole
/// words (or the whole phrase) of a lowercased message.
pub fn asks_for_person(text: &str) -> bool {
    let t = text.to_lowercase();
    let words: Vec<&str> = t
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    const WORDS: [&str; 14] = [
        "human",
        "person",
        "agent",
        "someone",
        "humano",
        "humana",
        "persona",
        "pessoa",
        "atendente",
        "asesor",
        "humain",
        "personne",
        "conseiller",
        "operator",
    ];
    const PHRASES: [&str; 6] = [
        "talk to someone",
        "real person",
        "hablar con alguien",
        "falar com alguém",
        "parler à quelqu",
        "service client",
    ];
    words.iter().any(|w| WORDS.contains(w)) || PHRASES.iter().any(|p| t.contains(p))
}

/// A greeting or a request for the menu.
pub fn is_greeting(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    let t = t.trim_end_matches(['!', '.', '?', ' ']);
    [
        "hi",
        "hello",
        "hey",
        "menu",
        "start",
        "hola",
        "buenas",
        "buenos días",
        "olá",
        "ola",
        "oi",
        "bom dia",
        "boa tarde",
        "bonjour",
        "salut",
        "bonsoir",
        "good morning",
        "good afternoon",
    ]
    .contains(&t)
}

/// Yes or no to a question, in the supported languages.
pub fn yes_no(text: &str) -> Option<bool> {
    let t = text.trim().to_lowercase();
    let t = t.trim_end_matches(['!', '.', ' ']);
    if [
        "yes", "y", "ok", "confirm", "sí", "si", "sim", "oui", "d'accord",
    ]
    .contains(&t)
    {
        Some(true)
    } else if [
        "no", "n", "cancel", "não", "nao", "non", "cancelar", "annuler",
    ]
    .contains(&t)
    {
        Some(false)
    } else {
        None
    }
}

static EN: Texts = Texts {
    disclosure: "Hi! I'm the automated assistant of {shop}. I can show you products, take your order, or get you a person.",
    greeting: "What would you like to do? You can also type what you are looking for.",
    browse: "Browse",
    my_order: "My order",
    person: "Talk to a person",
    products_button: "Products",
    here_are: "Here are some of our products:",
    found: "This is what I found for \"{query}\":",
    nothing_found: "I couldn't find anything for \"{query}\". Try other words, or browse our products.",
    no_products: "This shop has no products to show yet.",
    choose_option: "Which one would you like?",
    options_button: "Options",
    order_button: "Order",
    in_stock: "In stock",
    sold_out: "Sold out",
    sold_out_choose_other: "Sorry, that one is sold out. Would you like something else?",
    how_many: "How many would you like? Reply with a number.",
    bad_quantity: "Please reply with a number from 1 to 99.",
    only_left: "Sorry, only {n} left. How many would you like?",
    your_name: "What name should we put on the order?",
    bad_name: "Please reply with your name (2 to 100 letters).",
    your_address: "Where should we deliver it? Please send the full address.",
    bad_address: "Please send the full delivery address (street, number and city).",
    summary: "Your order:",
    total: "Total",
    deliver_to: "Deliver to",
    confirm: "Confirm",
    cancel: "Cancel",
    confirmed: "Thank you! Your order #{number} is placed. The shop will confirm it here on WhatsApp.",
    cancelled: "No problem, the order was not placed.",
    order_failed: "Sorry, the order could not be placed: {reason}",
    no_orders: "I can't find any order from this number yet.",
    your_orders: "Your latest orders:",
    handover: "I've asked a person from {shop} to join. They will answer you here as soon as they can.",
    statuses: [
        ("new", "received, waiting for the shop to confirm"),
        ("confirmed", "confirmed"),
        ("shipped", "on its way"),
        ("delivered", "delivered"),
        ("cancelled", "cancelled"),
    ],
};

static ES: Texts = Texts {
    disclosure: "¡Hola! Soy el asistente automático de {shop}. Puedo mostrarte productos, tomar tu pedido o ponerte con una persona.",
    greeting: "¿Qué te gustaría hacer? También puedes escribir lo que buscas.",
    browse: "Ver productos",
    my_order: "Mi pedido",
    person: "Hablar con alguien",
    products_button: "Productos",
    here_are: "Estos son algunos de nuestros productos:",
    found: "Esto es lo que encontré para \"{query}\":",
    nothing_found: "No encontré nada para \"{query}\". Prueba con otras palabras o mira nuestros productos.",
    no_products: "Esta tienda aún no tiene productos para mostrar.",
    choose_option: "¿Cuál te gustaría?",
    options_button: "Opciones",
    order_button: "Pedir",
    in_stock: "Disponible",
    sold_out: "Agotado",
    sold_out_choose_other: "Lo siento, ese está agotado. ¿Te gustaría otra cosa?",
    how_many: "¿Cuántos quieres? Responde con un número.",
    bad_quantity: "Por favor responde con un número del 1 al 99.",
    only_left: "Lo siento, solo quedan {n}. ¿Cuántos quieres?",
    your_name: "¿A nombre de quién hacemos el pedido?",
    bad_name: "Por favor responde con tu nombre (de 2 a 100 letras).",
    your_address: "¿Dónde lo entregamos? Envía la dirección completa, por favor.",
    bad_address: "Por favor envía la dirección completa (calle, número y ciudad).",
    summary: "Tu pedido:",
    total: "Total",
    deliver_to: "Entregar en",
    confirm: "Confirmar",
    cancel: "Cancelar",
    confirmed: "¡Gracias! Tu pedido #{number} está hecho. La tienda te lo confirmará aquí por WhatsApp.",
    cancelled: "No hay problema, el pedido no se hizo.",
    order_failed: "Lo siento, no se pudo hacer el pedido: {reason}",
    no_orders: "Aún no encuentro pedidos de este número.",
    your_orders: "Tus últimos pedidos:",
    handover: "Le pedí a una persona de {shop} que se una. Te responderá aquí lo antes posible.",
    statuses: [
        ("new", "recibido, esperando la confirmación de la tienda"),
        ("confirmed", "confirmado"),
        ("shipped", "en camino"),
        ("delivered", "entregado"),
        ("cancelled", "cancelado"),
    ],
};

static PT: Texts = Texts {
    disclosure: "Olá! Sou o assistente automático de {shop}. Posso mostrar produtos, anotar seu pedido ou chamar uma pessoa.",
    greeting: "O que você gostaria de fazer? Você também pode escrever o que procura.",
    browse: "Ver produtos",
    my_order: "Meu pedido",
    person: "Falar com alguém",
    products_button: "Produtos",
    here_are: "Alguns dos nossos produtos:",
    found: "Foi isto que encontrei para \"{query}\":",
    nothing_found: "Não encontrei nada para \"{query}\". Tente outras palavras ou veja nossos produtos.",
    no_products: "Esta loja ainda não tem produtos para mostrar.",
    choose_option: "Qual você gostaria?",
    options_button: "Opções",
    order_button: "Pedir",
    in_stock: "Disponível",
    sold_out: "Esgotado",
    sold_out_choose_other: "Desculpe, esse está esgotado. Gostaria de outra coisa?",
    how_many: "Quantos você quer? Responda com um número.",
    bad_quantity: "Por favor responda com um número de 1 a 99.",
    only_left: "Desculpe, restam apenas {n}. Quantos você quer?",
    your_name: "Em nome de quem fazemos o pedido?",
    bad_name: "Por favor responda com seu nome (de 2 a 100 letras).",
    your_address: "Onde entregamos? Envie o endereço completo, por favor.",
    bad_address: "Por favor envie o endereço completo (rua, número e cidade).",
    summary: "Seu pedido:",
    total: "Total",
    deliver_to: "Entregar em",
    confirm: "Confirmar",
    cancel: "Cancelar",
    confirmed: "Obrigado! Seu pedido #{number} foi feito. A loja vai confirmá-lo aqui pelo WhatsApp.",
    cancelled: "Sem problema, o pedido não foi feito.",
    order_failed: "Desculpe, não foi possível fazer o pedido: {reason}",
    no_orders: "Ainda não encontro pedidos deste número.",
    your_orders: "Seus últimos pedidos:",
    handover: "Pedi a uma pessoa de {shop} para entrar na conversa. Ela vai responder aqui assim que puder.",
    statuses: [
        ("new", "recebido, aguardando a confirmação da loja"),
        ("confirmed", "confirmado"),
        ("shipped", "a caminho"),
        ("delivered", "entregue"),
        ("cancelled", "cancelado"),
    ],
};

static FR: Texts = Texts {
    disclosure: "Bonjour ! Je suis l'assistant automatique de {shop}. Je peux vous montrer des produits, prendre votre commande ou vous passer une personne.",
    greeting: "Que souhaitez-vous faire ? Vous pouvez aussi écrire ce que vous cherchez.",
    browse: "Voir les produits",
    my_order: "Ma commande",
    person: "Parler à quelqu'un",
    products_button: "Produits",
    here_are: "Voici quelques-uns de nos produits :",
    found: "Voici ce que j'ai trouvé pour « {query} » :",
    nothing_found: "Je n'ai rien trouvé pour « {query} ». Essayez d'autres mots ou parcourez nos produits.",
    no_products: "Cette boutique n'a pas encore de produits à montrer.",
    choose_option: "Lequel souhaitez-vous ?",
    options_button: "Options",
    order_button: "Commander",
    in_stock: "En stock",
    sold_out: "Épuisé",
    sold_out_choose_other: "Désolé, celui-ci est épuisé. Voulez-vous autre chose ?",
    how_many: "Combien en voulez-vous ? Répondez avec un nombre.",
    bad_quantity: "Merci de répondre avec un nombre de 1 à 99.",
    only_left: "Désolé, il n'en reste que {n}. Combien en voulez-vous ?",
    your_name: "À quel nom passons-nous la commande ?",
    bad_name: "Merci de répondre avec votre nom (de 2 à 100 lettres).",
    your_address: "Où devons-nous livrer ? Envoyez l'adresse complète, s'il vous plaît.",
    bad_address: "Merci d'envoyer l'adresse de livraison complète (rue, numéro et ville).",
    summary: "Votre commande :",
    total: "Total",
    deliver_to: "Livrer à",
    confirm: "Confirmer",
    cancel: "Annuler",
    confirmed: "Merci ! Votre commande n°{number} est passée. La boutique vous la confirmera ici sur WhatsApp.",
    cancelled: "Pas de souci, la commande n'a pas été passée.",
    order_failed: "Désolé, la commande n'a pas pu être passée : {reason}",
    no_orders: "Je ne trouve encore aucune commande de ce numéro.",
    your_orders: "Vos dernières commandes :",
    handover: "J'ai demandé à une personne de {shop} de vous rejoindre. Elle vous répondra ici dès que possible.",
    statuses: [
        ("new", "reçue, en attente de confirmation par la boutique"),
        ("confirmed", "confirmée"),
        ("shipped", "en route"),
        ("delivered", "livrée"),
        ("cancelled", "annulée"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_four_languages_and_says_nothing_when_unsure() {
        assert_eq!(detect("Hola"), Some("es"));
        assert_eq!(detect("olá, tudo bem?"), Some("pt"));
        assert_eq!(detect("Bonjour"), Some("fr"));
        assert_eq!(
            detect("Do you have the blue cotton scarf in a bigger size?"),
            Some("en")
        );
        assert_eq!(
            detect("¿Tienen la bufanda azul de algodón en una talla más grande?"),
            Some("es")
        );
        assert_eq!(
            detect("Vocês têm o lenço azul de algodão num tamanho maior?"),
            Some("pt")
        );
        assert_eq!(
            detect("Avez-vous l'écharpe bleue en coton dans une taille plus grande ?"),
            Some("fr")
        );
        assert_eq!(detect("scarf"), None);
        assert_eq!(detect("3"), None);
    }

    #[test]
    fn a_person_is_asked_for_in_every_language_but_not_by_accident() {
        for t in [
            "Can I talk to a person?",
            "quiero hablar con alguien",
            "Quero falar com um atendente",
            "je voudrais parler à quelqu'un",
            "HUMAN",
        ] {
            assert!(asks_for_person(t), "{t}");
        }
        for t in ["personalised mug", "agenda", "red scarf"] {
            assert!(!asks_for_person(t), "{t}");
        }
    }

    #[test]
    fn every_language_has_every_text() {
        for lang in LANGUAGES {
            let t = texts(lang);
            for s in [t.disclosure, t.handover] {
                assert!(s.contains("{shop}"), "{lang}: {s}");
            }
            assert!(t.confirmed.contains("{number}"), "{lang}");
            assert!(t.only_left.contains("{n}"), "{lang}");
            // WhatsApp's limit for a reply button's title.
            for b in [
                t.browse,
                t.my_order,
                t.person,
                t.confirm,
                t.cancel,
                t.order_button,
            ] {
                assert!(b.chars().count() <= 20, "{lang}: {b}");
            }
        }
        assert_eq!(yes_no("Sí"), Some(true));
        assert_eq!(yes_no("non"), Some(false));
        assert!(is_greeting("Hola!"));
    }
}
