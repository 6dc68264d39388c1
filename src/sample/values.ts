// Realistic value pools for the sample exports, and a Windows-1252 encoder. Every character used here
// can be encoded in Windows-1252, so any row may land in a cp1252 object.

export const PRODUCTS = [
  'TCx 700', 'TCx800', 'TCx 810', 'SurePOS 700', 'SurePOS 300', 'TCx Wave', 'TCx 300', 'Elevate',
  '4900-785', '4610 TI8', '15" Touch Display', 'TCx Sky', 'MX915', 'DISPLAY 12" LED',
];

export const SR_TYPES = ['Break/Fix', 'Install', 'IMAC', 'Preventive Maintenance', 'Software'];
export const SEVERITIES = ['1 - Critical', '2 - High', '3 - Medium', '4 - Low'];
export const SR_STATUSES = ['Open', 'In Progress', 'Pending Parts', 'Closed'];
export const TASK_STATUSES = ['Open', 'Assigned', 'In Progress', 'Completed'];
export const PROBLEM_CODES = ['HW-PRINTER', 'HW-DISPLAY', 'HW-SCANNER', 'HW-MSR', 'HW-DRAWER', 'SW-OS', 'SW-APP', 'NET', 'PWR'];
export const RESOLUTION_CODES = ['REPLACED PART', 'REMOTE FIX', 'NO FAULT FOUND', 'FIRMWARE UPDATE', 'ADJUSTED'];
export const TASK_TYPES = ['Onsite Repair', 'Remote Support', 'Parts Shipment', 'Install', 'Preventive Maintenance'];
export const TECHNICIANS = [
  'J. Smith', 'Renée Dupont', 'María López', 'O’Brien, Pat', 'K. Müller', 'T. Nguyen', 'A. Kowalski',
  'François Lefèvre', 'S. Patel', 'B. Johnson',
];
export const NOTE_TYPES = ['Phone', 'Email', 'Onsite', 'Internal', 'Customer Portal'];
/** Quantities as written; edge forms too (zero, fractions, trailing zeros, the largest in use). Numeric keeps them as written. */
export const QUANTITIES = ['1', '1', '1', '2', '4', '1.0', '2.0', '3', '0', '0.5', '1.50', '12.25', '0.001', '100', '999999999.99'];

export const CUSTOMER_NAMES = [
  'Kroger', 'Café du Monde', 'Müller Markt', 'Señor Frog’s', 'Loblaw – Store', 'Walgreens', 'Ahold Delhaize',
  'Société Générale Café', 'Boulangerie Paul', 'Dollar General', 'Tesco Express', 'Carrefour Market', 'Hy-Vee',
  'Jürgen’s Getränke', 'Publix', 'Wegmans', 'Coop Zürich', 'Leclerc, Hypermarché', 'Best Buy', 'Sephora',
];
export const SITES: readonly (readonly [string, string, string, string])[] = [
  ['Cincinnati', 'OH', '45202', 'US'],
  ['Boston', 'MA', '02134', 'US'],
  ['New Orleans', 'LA', '70116', 'US'],
  ['Montréal', 'QC', 'H2X 1Y4', 'CA'],
  ['Québec', 'QC', 'G1R 4P5', 'CA'],
  ['Toronto', 'ON', 'M5V 2T6', 'CA'],
  ['München', 'BY', '80331', 'DE'],
  ['Zürich', 'ZH', '8001', 'CH'],
  ['Paris', 'IDF', '75002', 'FR'],
  ['São Paulo', 'SP', '01310-100', 'BR'],
  ['Raleigh', 'NC', '27601', 'US'],
  ['Dallas', 'TX', '75201', 'US'],
];
export const REGIONS = ['EAST', 'WEST', 'CENTRAL', 'Île-de-France', 'Québec', 'LATAM', 'DACH'];
export const CONTRACT_TYPES = ['Gold', 'Silver', 'Bronze', 'Time & Materials', 'Premium, 24x7', 'Warranty'];

/** SR summaries; '{n}' is replaced by a number. About half carry a comma. */
export const SUMMARIES = [
  'Printer jams on every receipt',
  'Receipt printer jams, error {n}',
  'Display flickers – intermittent',
  'Touch screen not responding, recalibrated twice',
  'Scanner not reading barcodes',
  'POS won’t boot after update',
  'Cash drawer does not open, lock ok',
  'Customer reports "blue screen" at startup',
  'MSR fails to read cards, swiped {n} times',
  'Keyboard keys sticking: 4, 7, Enter',
  'Terminal offline since morning, lane {n}',
  'Café register slow, freezes at tender',
  'Network port dead, replaced cable, still down',
  'Power supply fan noisy',
  'Scale reads 0.00 kg on lane {n}',
  'Customer display blank',
  'Lane {n} printer prints garbage, paper ok, head dirty',
  '15" display cracked',
];

export const PART_DESCRIPTIONS = [
  'Thermal print head',
  'LCD 15" TOUCH PANEL',
  'Power supply, 12V 5A',
  'Cash drawer, 5 bill 8 coin',
  'Keyboard, 67 key, POS',
  'MSR head assembly',
  'Cable, USB, 2m',
  'Customer display 2x20 VFD',
  'Motherboard – rev C',
  'Fan assembly',
  'DISPLAY 12" LED',
  'Scanner window glass',
  'Hard drive, SSD 128GB',
  'Printer cover',
];

/** Note texts; '{n}' is replaced by a number, '{d}' by a digit, '{tech}' by a technician, '{list}' by '1, 2, 3...'. */
export const NOTES = [
  'Called customer, left voicemail. Will try again after {d}:00',
  'Tech {tech} onsite, replaced part and ran diagnostics, all tests passed',
  'Parts ordered from depot, ETA {d} days; customer informed by phone',
  'Customer confirmed "working now" after a reboot of the terminal and the printer',
  'Step 1: rebooted\nStep 2: reseated cable\nStep 3: tested OK',
  'Réparé – test OK, client satisfait',
  'Escalated to L2 for firmware analysis; logs attached to the ticket',
  'Remote session, cleared print queue, job {n} removed and spooler restarted',
  'Waiting on store manager’s approval before dispatching a technician',
  'Dispatch scheduled for next business day between 8:00 and 12:00',
  'Checked lanes {list}',
  'Firmware updated to v{n}.2, customer to monitor for 24 hours',
  'No answer at site\nWill retry tomorrow morning',
  'Store reports the issue comes back every {n} transactions or so',
  'Replaced cable and cleaned the scanner window; unit back in service',
];

/** Second sentences some notes and summaries carry. */
export const FOLLOW_UPS = [
  'Store manager informed.',
  'Ticket updated by dispatch.',
  'See previous note for details.',
  'Customer asked for a call back before 17:00.',
  'Unit under warranty until next year.',
  'Technician to bring a spare power supply.',
];

// Windows-1252 bytes 0x80-0x9F and the characters they stand for.
const CP1252_HIGH: Record<string, number> = {
  '€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88, '‰': 0x89,
  'Š': 0x8a, '‹': 0x8b, 'Œ': 0x8c, 'Ž': 0x8e, '‘': 0x91, '’': 0x92, '“': 0x93, '”': 0x94, '•': 0x95,
  '–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99, 'š': 0x9a, '›': 0x9b, 'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
};

/** Encodes text as Windows-1252; throws on a character cp1252 cannot encode. */
export function encodeCp1252(text: string): Buffer {
  // eslint-disable-next-line no-control-regex
  const mapped = text.replace(/[^\x00-\x7f\xa0-\xff]/g, (ch) => {
    const byte = CP1252_HIGH[ch];
    if (byte === undefined) throw new Error(`encodeCp1252: cannot encode U+${ch.codePointAt(0)?.toString(16)}`);
    return String.fromCharCode(byte);
  });
  return Buffer.from(mapped, 'latin1');
}

/** Who reported an SR (appended to some summaries). */
export const REPORTERS = ['store manager', 'head cashier', 'IT help desk', 'the customer', 'district manager', 'night shift lead'];
