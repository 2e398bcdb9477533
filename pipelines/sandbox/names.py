"""Word lists and catalogs for the synthetic brand: metros, people, streets, services, free-text snippets.

Plain data only. Some entries are deliberately awkward (commas, quotes, line breaks, non-ASCII letters, postal codes
with leading zeros) so that every download exercises CSV quoting and text typing.
"""

from __future__ import annotations

from dataclasses import dataclass

BRAND_NAME = "BrightNest"


@dataclass(frozen=True)
class Metro:
    city: str
    state: str
    zip_prefixes: tuple[str, ...]  # first three digits; New England / NJ / PR ones start with "0"
    area_codes: tuple[str, ...]
    suburbs: tuple[str, ...]
    with_state: bool = False  # the organization's name spells the state out: "BrightNest of Portland, ME"


METROS: tuple[Metro, ...] = (
    Metro(
        "Boston", "MA", ("021", "022", "024"), ("617", "857", "781"), ("Cambridge", "Somerville", "Newton", "Quincy")
    ),
    Metro("Austin", "TX", ("787",), ("512", "737"), ("Round Rock", "Cedar Park", "Pflugerville", "Georgetown")),
    Metro("Providence", "RI", ("028", "029"), ("401",), ("Cranston", "Warwick", "Pawtucket", "East Providence")),
    Metro("Denver", "CO", ("802", "801"), ("303", "720"), ("Aurora", "Lakewood", "Englewood", "Littleton")),
    Metro("Hartford", "CT", ("060", "061"), ("860", "959"), ("West Hartford", "Glastonbury", "Manchester", "Enfield")),
    Metro("Phoenix", "AZ", ("850", "852"), ("602", "480", "623"), ("Mesa", "Tempe", "Chandler", "Scottsdale")),
    Metro("Portland", "ME", ("040", "041"), ("207",), ("South Portland", "Westbrook", "Falmouth"), with_state=True),
    Metro("Portland", "OR", ("970", "972"), ("503", "971"), ("Beaverton", "Gresham", "Hillsboro"), with_state=True),
    Metro("Atlanta", "GA", ("303", "300"), ("404", "770", "678"), ("Marietta", "Decatur", "Roswell", "Smyrna")),
    Metro("Newark", "NJ", ("070", "071"), ("973", "862"), ("Montclair", "Bloomfield", "Nutley", "Livingston")),
    Metro("Nashville", "TN", ("370", "372"), ("615", "629"), ("Franklin", "Brentwood", "Hendersonville")),
    Metro("Manchester", "NH", ("030", "031"), ("603",), ("Bedford", "Goffstown", "Hooksett", "Londonderry")),
    Metro("Charlotte", "NC", ("282", "281"), ("704", "980"), ("Matthews", "Huntersville", "Concord", "Mint Hill")),
    Metro("Columbus", "OH", ("432", "430"), ("614", "380"), ("Dublin", "Westerville", "Hilliard", "Grove City")),
    Metro("Burlington", "VT", ("054",), ("802",), ("South Burlington", "Essex Junction", "Winooski", "Colchester")),
    Metro("Tampa", "FL", ("336", "335"), ("813", "727"), ("Brandon", "Clearwater", "Largo", "Riverview")),
    Metro("Minneapolis", "MN", ("554", "553"), ("612", "952", "763"), ("Edina", "Bloomington", "Plymouth")),
    Metro("San Juan", "PR", ("009",), ("787", "939"), ("Guaynabo", "Bayamón", "Carolina", "Trujillo Alto")),
    Metro("Kansas City", "MO", ("641", "640"), ("816",), ("Independence", "Lee's Summit", "Liberty", "Raytown")),
    Metro("Raleigh", "NC", ("276", "275"), ("919", "984"), ("Cary", "Apex", "Wake Forest", "Garner")),
    Metro("Salt Lake City", "UT", ("841", "840"), ("801", "385"), ("Sandy", "Draper", "Murray", "West Jordan")),
    Metro("Sacramento", "CA", ("958", "956"), ("916", "279"), ("Elk Grove", "Roseville", "Folsom", "Citrus Heights")),
    Metro("Dallas", "TX", ("752", "750"), ("214", "469", "972"), ("Plano", "Richardson", "Garland", "Irving")),
    Metro("Omaha", "NE", ("681", "680"), ("402", "531"), ("Bellevue", "Papillion", "La Vista", "Elkhorn")),
    Metro("Boise", "ID", ("837",), ("208", "986"), ("Meridian", "Nampa", "Eagle", "Kuna")),
    Metro("Richmond", "VA", ("232", "231"), ("804",), ("Midlothian", "Glen Allen", "Mechanicsville")),
    Metro("Indianapolis", "IN", ("462", "461"), ("317", "463"), ("Carmel", "Fishers", "Greenwood", "Noblesville")),
    Metro(
        "Springfield", "MA", ("010", "011"), ("413",), ("Chicopee", "Holyoke", "Westfield", "Agawam"), with_state=True
    ),
    Metro("Springfield", "IL", ("627",), ("217",), ("Chatham", "Sherman", "Rochester"), with_state=True),
    Metro("Albuquerque", "NM", ("871",), ("505",), ("Rio Rancho", "Corrales", "Los Ranchos")),
)
AREA_SUFFIXES = ("North", "South", "East", "West", "Metro", "Central")

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Christopher", "Karen", "Charles", "Lisa",
    "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret", "Donald", "Ashley", "Steven",
    "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "George", "Rebecca", "Jason", "Sharon", "Edward",
    "Laura", "Jeffrey", "Cynthia", "Ryan", "Dorothy", "Jacob", "Amy", "Nicholas", "Kathleen", "Gary", "Angela",
    "Eric", "Shirley", "Jonathan", "Emma", "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Nicole", "Scott",
    "Anna", "Brandon", "Samantha", "Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander",
    "Rachel", "Patrick", "Carolyn", "Frank", "Janet", "Raymond", "Maria", "Jack", "Olivia", "Dennis", "Heather",
    "José", "Zoë", "François", "Renée", "Björn", "Siobhán", "Chloé", "Nuño", "Thảo", "Øyvind", "Priya", "Wei",
    "Aaliyah", "Mateo", "Fatima", "Hiroshi", "Ngozi", "Santiago", "Ximena", "Dmitri",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers",
    "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox",
    "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz",
    "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "O'Brien", "O'Neil", "Müller", "Muñoz", "Nguyễn", "Søndergaard", "Côté", "Łukasik", "D'Angelo", "McAllister",
    "Van der Berg", "St. James", "Iñárritu", "Okafor", "Yamamoto", "Kowalski", "Haddad", "Novák",
)  # fmt: skip
NAME_SUFFIXES = ("Jr.", "Sr.", "III", "PhD")
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com", "hotmail.com", "comcast.net")
COMPANY_PATTERNS = (
    "{last} Property Management, LLC",
    "{last} & Sons",
    "{last} Realty",
    "{city} Dental Group",
    "{last}, {last2} & Associates",
    "The {last} Group, Inc.",
    'Lakeside "Premier" Rentals',
    "{city} Community Church",
    "{last} Family Trust",
    "Sunrise HOA",
)
STREET_NAMES = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Main", "Church", "Sunset",
    "Highland", "Forest", "Meadow", "Ridge", "Willow", "Spring", "River", "Chestnut", "Walnut", "Lincoln",
    "Jefferson", "Madison", "Franklin", "Cherry", "Birch", "Magnolia", "Dogwood", "Sycamore", "Hickory", "Aspen",
)  # fmt: skip
STREET_SUFFIXES = ("St", "Ave", "Rd", "Dr", "Ln", "Ct", "Way", "Blvd", "Pl", "Cir", "Ter")
ADDRESS2 = ("Apt 4B", "Unit 12", "Suite 200, Bldg C", "#7", "Apt 301", "Floor 2", "Unit B", "Lot 14")

LEAD_SOURCES = ("Google", "Referral", "Yard Sign", "Facebook", "Repeat Customer", "Yelp", "Direct Mail", "Nextdoor")
CHANNELS = ("Web", "Phone", "Walk-in", "Email", "Chat")
CAMPAIGNS = ("Spring Promo", "Fall Cleanup", "Holiday Special", "Refer-a-Friend, $25 off", "New Mover")
TAGS = (
    "VIP",
    "Dog in yard; use side gate",
    "Gate code 4411, ring twice",
    "Prefers text",
    'Says "call first"',
    "Key under mat\nAlarm code at office",
    "Commercial",
    "Senior discount",
    "Pays by check; mail invoice",
    'Notes: "Beware of cat"\r\nBack door only',
)
CANCEL_REASONS = (
    "Customer request",
    "Weather",
    "No access, gate locked",
    "Rescheduled",
    "Illness",
    "Technician unavailable",
    'Customer said "not needed"',
    "Duplicate booking",
)
PAYMENT_METHODS = ("Card", "Card", "Card", "Card", "Card", "Card", "ACH", "ACH", "Check", "Check", "Check", "Cash")
CARD_BRANDS = ("VISA", "MC", "AMEX", "DISC")
STANDALONE_ITEMS = (
    ("Gift Certificate", 5000, "Gift certificate, $50"),
    ("Gift Certificate", 10000, "Gift certificate, $100"),
    ("Membership Fee", 9900, "Annual maintenance plan"),
    ("Product Sale", 2499, 'Spray bottle "Shine Plus"'),
)


@dataclass(frozen=True)
class Addon:
    name: str
    unit_cents: int
    quantities: tuple[int, ...]  # in ten-thousandths (1.0000 = 10000), so extended totals stay exact
    taxable: bool
    description: str | None


@dataclass(frozen=True)
class Service:
    name: str
    min_cents: int
    max_cents: int
    duration: int  # minutes
    taxable: bool
    intervals: tuple[int, ...]  # recurring cadences in days; empty = never recurring
    weight: int  # popularity for one-off jobs
    descriptions: tuple[str | None, ...]
    addons: tuple[Addon, ...] = ()
    big_job: bool = False  # sold through proposals


_SCREENS = Addon("Screen Cleaning", 500, (40000, 80000, 120000, 160000, 200000), True, "Screens washed, per screen")
_HARD_WATER = Addon("Hard Water Removal", 7500, (5000, 10000, 15000, 20000), True, "Billed per hour")
_TRIP = Addon("Trip Charge", 2500, (10000,), False, None)
_PET = Addon("Pet Odor Treatment", 3500, (10000, 20000, 30000), True, "Enzyme treatment, per room")
_MATERIALS = Addon("Materials", 1299, (10000, 25000, 37500), True, 'Supplies "as needed"')
_FRIDGE = Addon("Inside Fridge", 4000, (10000,), True, None)
_STAIN = Addon("Stain Protection", 2500, (20000, 40000, 60000), True, "Per room")

SERVICES: tuple[Service, ...] = (
    Service(
        "Window Cleaning",
        18900,
        44900,
        120,
        True,
        (56, 91),
        14,
        ("Exterior windows, 2-story", "Inside and out", 'Customer asked: "please use the side gate"', None),
        (_SCREENS, _HARD_WATER, _TRIP),
    ),
    Service("Gutter Cleaning", 14900, 29900, 90, True, (91,), 9, ("Gutters and downspouts", None), (_TRIP,)),
    Service(
        "Pressure Washing",
        24900,
        59900,
        180,
        True,
        (),
        8,
        ("Driveway, walkway and patio", "Deck\nSeal not included", None),
        (_MATERIALS, _TRIP),
    ),
    Service(
        "House Cleaning",
        12900,
        24900,
        150,
        True,
        (14, 28),
        16,
        ("Standard clean, 3 bed / 2 bath", "Kitchen + baths", None),
        (_FRIDGE, _PET),
    ),
    Service(
        "Deep Cleaning",
        29900,
        54900,
        240,
        True,
        (),
        7,
        ("Move-out deep clean", 'Baseboards, "white glove"', "Front + back\r\nGarage excluded"),
        (_FRIDGE, _PET, _MATERIALS),
    ),
    Service("Carpet Cleaning", 15900, 39900, 120, True, (), 8, ("4 rooms, 1 hallway", None), (_STAIN, _PET)),
    Service("Lawn Mowing", 4500, 8500, 45, False, (14,), 10, ("Mow, edge, blow", None), (_TRIP,)),
    Service("Pest Control", 9900, 17900, 60, True, (28, 91), 10, ("Quarterly perimeter treatment", None), ()),
    Service("Dryer Vent Cleaning", 11900, 18900, 60, True, (), 5, ("Vent run up to 15 ft", None), (_TRIP,)),
    Service(
        "Holiday Lighting",
        59900,
        189900,
        240,
        True,
        (),
        1,
        ("Roofline + 2 trees\nTakedown in January", "Install, warm white"),
        (_MATERIALS,),
        big_job=True,
    ),
    Service(
        "Roof Soft Wash",
        49900,
        149900,
        240,
        True,
        (),
        1,
        ("Algae treatment, 2,400 sq ft", 'Tile roof, "no pressure"'),
        (_MATERIALS,),
        big_job=True,
    ),
)
RECURRING_SERVICES = tuple(i for i, s in enumerate(SERVICES) if s.intervals)
BIG_JOB_SERVICES = tuple(i for i, s in enumerate(SERVICES) if s.big_job)
