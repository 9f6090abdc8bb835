#!/usr/bin/env node
// Syntax check of GDScript 4 files with tree-sitter's GDScript grammar, for the Godot 4 twin of the addon:
// no Godot 4 engine is packaged for Debian 12, and a parse error would otherwise reach a user first.
// The grammar reads Godot 3 scripts too, so the Godot 3 syntax that Godot 4 refuses is reported as well: a
// twin that kept a line of the 3 version parses, and would fail only in the engine.
// Usage: node tools/gdscript4/check.js DIR_OR_FILE...  Prints FILE:LINE:COL for every ERROR or MISSING
// node of the parse tree and every Godot 3 construct; exits 1 if there is any, 77 (ctest's skip) when the
// npm packages are absent.
'use strict';
const fs = require('fs');
const path = require('path');

let Parser, GDScript;
try {
	Parser = require('tree-sitter');
	GDScript = require('tree-sitter-gdscript');
} catch (e) {
	console.log('gdscript4-check: the npm packages tree-sitter and tree-sitter-gdscript are not installed ' +
		'(tools/setup.sh installs them into tools/gdscript4/node_modules); skipping: ' + e.message.split('\n')[0]);
	process.exit(77);
}

// Node types of the grammar that only Godot 3 has, and what Godot 4 writes instead.
const GODOT3_ONLY = {
	export_variable_statement: 'export var (Godot 4: @export var)',
	onready_variable_statement: 'onready var (Godot 4: @onready var)',
	remote_keyword: 'an RPC keyword (Godot 4: @rpc)',
	setter: 'setget (Godot 4: set/get blocks)',
	getter: 'setget (Godot 4: set/get blocks)',
};

// `tool` alone on a line parses as an expression; `yield(...)` as a call.
function godot3(node) {
	if (GODOT3_ONLY[node.type])
		return GODOT3_ONLY[node.type];
	if (node.type === 'expression_statement' && node.text === 'tool')
		return 'tool (Godot 4: @tool)';
	if (node.type === 'call' && node.firstChild && node.firstChild.type === 'identifier' && node.firstChild.text === 'yield')
		return 'yield (Godot 4: await)';
	return null;
}

function scripts(p) {
	if (fs.statSync(p).isDirectory())
		return fs.readdirSync(p).sort().flatMap((name) => scripts(path.join(p, name)));
	return p.endsWith('.gd') ? [p] : [];
}

const parser = new Parser();
parser.setLanguage(GDScript);
const args = process.argv.slice(2);
if (args.length === 0) {
	console.error('usage: check.js DIR_OR_FILE...');
	process.exit(2);
}
let files = 0, problems = 0;
for (const file of args.flatMap(scripts)) {
	files++;
	const tree = parser.parse(fs.readFileSync(file, 'utf8'));
	let found = 0;
	// Iterative: a deep expression must not overflow the stack of the checker itself.
	const stack = [tree.rootNode];
	while (stack.length) {
		const node = stack.pop();
		if (node.type === 'ERROR' || node.isMissing) {
			const at = node.startPosition;
			console.log(`${file}:${at.row + 1}:${at.column + 1}: ${node.isMissing ? 'missing ' + node.type : 'syntax error'}`);
			found++;
		} else if (godot3(node)) {
			const at = node.startPosition;
			console.log(`${file}:${at.row + 1}:${at.column + 1}: Godot 3 syntax: ${godot3(node)}`);
			found++;
		}
		for (let i = node.childCount - 1; i >= 0; i--)
			stack.push(node.child(i));
	}
	if (!found && tree.rootNode.hasError) {
		console.log(`${file}:1:1: syntax error somewhere in the file`);
		found++;
	}
	problems += found;
}
if (files === 0) {
	console.log('gdscript4-check: no .gd file in ' + args.join(' '));
	process.exit(1);
}
console.log(`gdscript4-check: ${files} files, ${problems} problems`);
process.exit(problems ? 1 : 0);
